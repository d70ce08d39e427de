using System.Runtime.InteropServices;

namespace SharpCnn.Formats;

/// <summary>
/// Flushes a folder's entries to disk (<c>fsync</c> on the folder), so that a file renamed into it survives a
/// power cut. .NET has no managed way to open a folder for this (its file handles refuse folders), so on Linux and
/// macOS this is the one place that calls the C library: <c>open(folder, O_RDONLY | O_DIRECTORY)</c>, <c>fsync</c>,
/// <c>close</c>. On Windows, where a rename is made durable by the file system's journal and a folder cannot be
/// flushed this way, it does nothing. The calls are system calls of the operating system's own C library, which
/// every .NET process has loaded; no native library ships with SharpCnn.
/// </summary>
internal static partial class DirectorySync
{
    /// <summary>Flushes <paramref name="folder"/>'s entries; false where the platform has no such call.</summary>
    /// <exception cref="IOException">The folder could not be opened or flushed; the message has the system's reason.</exception>
    public static bool Flush(string folder)
    {
        if (OperatingSystem.IsLinux()) return Flush(folder, LinuxLibC.Open(folder, LinuxDirectoryFlag), LinuxLibC.Fsync, LinuxLibC.Close);
        if (OperatingSystem.IsMacOS()) return Flush(folder, MacLibC.Open(folder, MacDirectoryFlag), MacLibC.Fsync, MacLibC.Close);
        return false;
    }

    // O_RDONLY is 0; O_DIRECTORY is 0x10000 on Linux (x64 and arm64 alike: asm-generic), 0x100000 on macOS.
    private const int LinuxDirectoryFlag = 0x10000;
    private const int MacDirectoryFlag = 0x100000;
    private const int Einval = 22;

    private static bool Flush(string folder, int fd, Func<int, int> fsync, Func<int, int> close)
    {
        if (fd < 0) throw Error("open", folder);
        try
        {
            // EINVAL: a file system that cannot flush folders (some network and FUSE file systems); there is nothing more to do.
            if (fsync(fd) != 0 && Marshal.GetLastPInvokeError() != Einval) throw Error("fsync", folder);
        }
        finally
        {
            close(fd);
        }
        return true;
    }

    private static IOException Error(string call, string folder)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call} of the folder {folder} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }

    private static partial class LinuxLibC
    {
        [LibraryImport("libc.so.6", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc.so.6", EntryPoint = "fsync", SetLastError = true)]
        public static partial int Fsync(int fd);

        [LibraryImport("libc.so.6", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);
    }

    private static partial class MacLibC
    {
        [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int Open(string path, int flags);

        [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
        public static partial int Fsync(int fd);

        [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
        public static partial int Close(int fd);
    }
}
