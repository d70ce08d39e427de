using System.Globalization;

namespace SharpCnn.Model;

/// <summary>
/// How much more memory this process may use: the least of what the control group allows beyond what it
/// already uses (cgroup v2 <c>memory.max</c> - <c>memory.current</c>, or v1 <c>memory.limit_in_bytes</c> -
/// <c>memory.usage_in_bytes</c>, for this process's group and every group above it), the machine's
/// <c>MemAvailable</c> (Linux <c>/proc/meminfo</c>), and what the .NET garbage collector will still give
/// (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>, which honours a heap hard limit, less the heap in use).
/// Files that do not exist (another operating system, no control group) are skipped.
/// </summary>
public static class AvailableMemory
{
    /// <summary>The bytes this process may still allocate, and which limit gave that figure.</summary>
    public static (long Bytes, string Source) Measure() => Measure("/proc", "/sys/fs/cgroup");

    /// <summary><see cref="Measure()"/> reading the proc and cgroup file systems at the given roots (for tests).</summary>
    internal static (long Bytes, string Source) Measure(string proc, string cgroupRoot)
    {
        var info = GC.GetGCMemoryInfo();
        long best = Math.Max(0, info.TotalAvailableMemoryBytes - GC.GetTotalMemory(false));
        string source = "the .NET runtime's limit";
        void Consider(long? bytes, string what)
        {
            if (bytes is { } b && b < best)
            {
                best = Math.Max(0, b);
                source = what;
            }
        }
        Consider(MemInfoAvailable(Path.Combine(proc, "meminfo")), "MemAvailable in /proc/meminfo");
        foreach (var (bytes, what) in CgroupRoom(Path.Combine(proc, "self", "cgroup"), cgroupRoot)) Consider(bytes, what);
        return (best, source);
    }

    private static long? MemInfoAvailable(string path)
    {
        foreach (string line in ReadLines(path))
        {
            if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
            string[] parts = line["MemAvailable:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 1 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kib) && kib < long.MaxValue / 1024)
                return kib * 1024;
        }
        return null;
    }

    /// <summary>Room under each control group limit from this process's group up to the root.</summary>
    private static IEnumerable<(long Bytes, string What)> CgroupRoom(string selfCgroup, string root)
    {
        foreach (string line in ReadLines(selfCgroup))
        {
            string[] parts = line.Split(':', 3);
            if (parts.Length != 3) continue;
            bool v2 = parts[0] == "0" && parts[1].Length == 0;
            bool v1 = parts[1].Split(',').Contains("memory");
            if (!v1 && !v2) continue;
            string[] bases = v2 ? [root, Path.Combine(root, "unified")] : [Path.Combine(root, "memory")];
            foreach (string mount in bases)
            {
                string relative = parts[2].TrimStart('/');
                while (true)
                {
                    string dir = relative.Length == 0 ? mount : Path.Combine(mount, relative);
                    long? limit = ReadNumber(Path.Combine(dir, v2 ? "memory.max" : "memory.limit_in_bytes"));
                    long? used = ReadNumber(Path.Combine(dir, v2 ? "memory.current" : "memory.usage_in_bytes"));
                    if (limit is { } l && l < (1L << 60)) yield return (l - (used ?? 0), $"the control group limit {MemoryText(l)} of {(relative.Length == 0 ? "/" : "/" + relative)}");
                    if (relative.Length == 0) break;
                    int slash = relative.LastIndexOf('/');
                    relative = slash < 0 ? "" : relative[..slash];
                }
            }
        }
    }

    private static string MemoryText(long bytes) => Tensors.MemoryMath.Format(bytes);

    private static long? ReadNumber(string path)
    {
        string text = ReadLines(path).FirstOrDefault()?.Trim() ?? "";
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) ? value : null; // "max" (no limit) is not a number
    }

    private static string[] ReadLines(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllLines(path) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}
