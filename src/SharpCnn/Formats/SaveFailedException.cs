namespace SharpCnn.Formats;

/// <summary>
/// A save that could not be made (the file system is full or read-only, the folder cannot be made, the
/// path is a folder): the message names the file and the cause, and says that the previous file, if
/// there was one, is unchanged (saves are atomic: see <see cref="ModelFile.Save{T}(Model.Network{T}, string, IReadOnlyDictionary{string, string}?)"/>).
/// </summary>
public sealed class SaveFailedException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/>.</summary>
    /// <param name="path">The file that was to be written (as the caller named it).</param>
    /// <param name="message">The whole message, naming the file and the cause.</param>
    /// <param name="inner">What the file system reported, if anything.</param>
    public SaveFailedException(string path, string message, Exception? inner = null) : base(message, inner) => FilePath = path;

    /// <summary>The file that was to be written.</summary>
    public string FilePath { get; }
}
