using System.Runtime.InteropServices;

namespace SharpCnn.Web.Live;

/// <summary>
/// Gives a thread that works beside training (the live page's publishing thread) the lowest scheduling priority, so
/// that it takes a core only when training leaves one: on Linux nice 19 for that thread alone (a Linux thread has a
/// nice value of its own, set with setpriority on its thread id), elsewhere <see cref="ThreadPriority.Lowest"/> (which
/// .NET applies on Windows and macOS, and ignores on Linux). Native interop: it lives here, not in the core library.
/// </summary>
internal static partial class BackgroundPriority
{
    private const int PrioProcess = 0; // PRIO_PROCESS: with a thread id, that thread's nice value
    private const int LowestNice = 19;

    /// <summary>Lowers the calling thread's priority as far as it goes; returns what was done (e.g. "nice 19"), for the record.</summary>
    public static string LowerCurrentThread()
    {
        string fallback = "lowest .NET thread priority";
        try
        {
            Thread.CurrentThread.Priority = ThreadPriority.Lowest;
        }
        catch (Exception e) when (e is ThreadStateException or PlatformNotSupportedException)
        {
            fallback = "normal priority (the platform refused a lower one)";
        }
        if (!OperatingSystem.IsLinux()) return fallback;
        try
        {
            int tid = ThreadId();
            if (tid <= 0) return fallback + " (no thread id for nice 19)";
            if (SetPriority(PrioProcess, (uint)tid, LowestNice) != 0)
                return $"{fallback} (setpriority refused nice {LowestNice}: errno {Marshal.GetLastPInvokeError()})";
            return $"nice {LowestNice}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return $"{fallback} (no setpriority: {e.Message})";
        }
    }

    /// <summary>The calling thread's Linux thread id: gettid() (glibc 2.30 and later, musl), else /proc/thread-self's target ("PID/task/TID").</summary>
    private static int ThreadId()
    {
        try
        {
            return GetTid();
        }
        catch (EntryPointNotFoundException)
        {
            string? target = new FileInfo("/proc/thread-self").LinkTarget;
            return target is not null && int.TryParse(Path.GetFileName(target), out int tid) ? tid : -1;
        }
    }

    // "libc" is the C library on Linux (.NET maps the name to libc.so.6 there).
    [LibraryImport("libc", EntryPoint = "setpriority", SetLastError = true)]
    private static partial int SetPriority(int which, uint who, int prio);

    [LibraryImport("libc", EntryPoint = "gettid")]
    private static partial int GetTid();
}
