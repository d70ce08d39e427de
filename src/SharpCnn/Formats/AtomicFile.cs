using System.Diagnostics;
using System.Globalization;

namespace SharpCnn.Formats;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder
/// (<c>.NAME.PID.RANDOM.tmp</c>), which is flushed to disk and then renamed over the target.
/// A rename within a folder is atomic, so a reader (or a process killed at any moment)
/// sees either the previous file or the new one, never a mixture or a half-written file.
/// A writer killed mid-save leaves its temporary file behind; the next save to the same
/// target removes those whose process is gone.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    /// <exception cref="IOException">The target is a folder, or the file system refused.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new IOException($"{path} is a folder; expected a file name to save to");
        string dir = Path.GetDirectoryName(full) ?? ".";
        string name = Path.GetFileName(full);
        Directory.CreateDirectory(dir);
        RemoveAbandoned(dir, name);
        string temp = Path.Combine(dir, $".{name}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>True for a temporary file name this class makes for <paramref name="target"/>.</summary>
    public static bool IsTemporaryOf(string fileName, string target, out int processId)
    {
        processId = 0;
        string prefix = "." + target + ".";
        if (!fileName.StartsWith(prefix, StringComparison.Ordinal) || !fileName.EndsWith(".tmp", StringComparison.Ordinal)) return false;
        string[] rest = fileName[prefix.Length..^".tmp".Length].Split('.');
        return rest.Length == 2 && rest[1].Length == 32 && int.TryParse(rest[0], NumberStyles.None, CultureInfo.InvariantCulture, out processId);
    }

    private static void RemoveAbandoned(string dir, string target)
    {
        try
        {
            foreach (string file in Directory.EnumerateFiles(dir, "." + target + ".*.tmp"))
            {
                if (!IsTemporaryOf(Path.GetFileName(file), target, out int pid) || pid == Environment.ProcessId || IsRunning(pid)) continue;
                try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Cleaning up is a courtesy; the save itself reports real problems.
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
