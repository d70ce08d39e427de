namespace SharpCnn;

/// <summary>
/// The one exception every SharpCnn file reader throws for a file it cannot accept
/// (IDX data, model files, images, ONNX). Its message names the file, the byte offset
/// where reading stopped and what was expected there, e.g.
/// <c>train-images-idx3-ubyte.gz: at byte 4: expected 60000 images of 28x28 (47040000 bytes), found 1024 bytes</c>.
/// </summary>
public sealed class FileFormatException : IOException
{
    /// <summary>Creates the exception for <paramref name="path"/> at <paramref name="offset"/>.</summary>
    /// <param name="path">The file being read (as the user named it).</param>
    /// <param name="offset">Byte offset in the (decompressed) content where the problem was found; -1 if not applicable.</param>
    /// <param name="problem">What was expected and what was found.</param>
    /// <param name="inner">The underlying exception, if any.</param>
    public FileFormatException(string path, long offset, string problem, Exception? inner = null)
        : base(Format(path, offset, problem), inner)
    {
        FilePath = path;
        Offset = offset;
        Problem = problem;
    }

    /// <summary>The file that was rejected.</summary>
    public string FilePath { get; }

    /// <summary>Byte offset of the problem in the (decompressed) content, or -1.</summary>
    public long Offset { get; }

    /// <summary>What was expected and what was found, without the file name.</summary>
    public string Problem { get; }

    private static string Format(string path, long offset, string problem) =>
        offset >= 0 ? $"{path}: at byte {offset}: {problem}" : $"{path}: {problem}";
}
