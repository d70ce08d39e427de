using System.Diagnostics;
using System.Globalization;

namespace SharpCnn.Formats;

/// <summary>
/// Replaces a file all at once: the content goes to a temporary file in the same folder
/// (<c>.NAME.PID.RANDOM.tmp</c>), which is flushed to disk and then renamed over the target, and
/// then the folder itself is flushed (<see cref="DirectorySync"/>), so the new name survives a power cut.
/// A rename within a folder is atomic, so a reader (or a process killed at any moment)
/// sees either the previous file or the new one, never a mixture or a half-written file.
/// A save that fails (a full or read-only file system, a folder that cannot be made, a path that is a
/// folder) throws <see cref="SaveFailedException"/> naming the file and the cause, removes its temporary
/// file and leaves the previous file as it was. A missing folder is made first, as <c>mkdir -p</c> would.
/// A writer killed mid-save leaves its temporary file behind; the next save to the same
/// target removes those whose process is gone.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically and durably.</summary>
    /// <exception cref="SaveFailedException">The target is a folder, or the file system refused; the previous file is unchanged.</exception>
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        bool existed = File.Exists(full);
        string unchanged = existed ? "the previous file is unchanged" : "nothing was written";
        if (Directory.Exists(full)) throw new SaveFailedException(path, $"cannot save {path}: it is a folder; expected a file name to save to");
        string dir = Path.GetDirectoryName(full) ?? ".";
        string name = Path.GetFileName(full);
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SaveFailedException(path, $"cannot save {path}: the folder {dir} does not exist and cannot be made ({Cause(e, dir)}); {unchanged}", e);
        }
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Delete(temp);
            throw new SaveFailedException(path, $"cannot save {path}: {Cause(e, temp)}; {unchanged}", e);
        }
        catch
        {
            Delete(temp);
            throw;
        }
        try
        {
            DirectorySync.Flush(dir);
        }
        catch (IOException e)
        {
            // The file is complete and in place; only its durability across a power cut is in doubt.
            throw new SaveFailedException(path, $"saved {path}, but could not flush its folder to disk ({e.Message}): a power cut now could lose it", e);
        }
    }

    /// <summary>The system's reason, without the temporary file's name (which means nothing to the user).</summary>
    private static string Cause(Exception e, string temp)
    {
        string message = e.Message.Replace($" : '{temp}'", "", StringComparison.Ordinal).Replace($"'{temp}'", "a temporary file beside it", StringComparison.Ordinal)
            .Replace(temp, "a temporary file beside it", StringComparison.Ordinal).Trim();
        if (e is UnauthorizedAccessException) message = $"permission denied ({message})";
        return message.TrimEnd('.');
    }

    private static void Delete(string file)
    {
        try { File.Delete(file); } catch (IOException) { } catch (UnauthorizedAccessException) { }
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
