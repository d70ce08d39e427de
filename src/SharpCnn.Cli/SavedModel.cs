using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Model;

namespace SharpCnn.Cli;

/// <summary>A model file as <c>predict</c> and <c>eval</c> take it: a SharpCnn <c>.scnn</c> file, or an ONNX model imported on the fly.</summary>
internal static class SavedModel
{
    /// <summary>
    /// True when the file at <paramref name="path"/> is read as ONNX: it is called <c>.onnx</c>, or it does not start
    /// with a SharpCnn model file's magic but with the byte an ONNX model starts with (0x08, the tag of its
    /// <c>ir_version</c>). Anything else is read as a model file, whose reader says what is wrong with it.
    /// </summary>
    public static bool IsOnnx(string path)
    {
        if (!File.Exists(path)) return false;
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) return true;
        Span<byte> magic = stackalloc byte[8];
        using var file = File.OpenRead(path);
        int n = file.ReadAtLeast(magic, 8, throwOnEndOfStream: false);
        return n > 0 && magic[0] == 0x08 && !(n == 8 && magic.SequenceEqual("SCNNMODL"u8));
    }

    /// <summary>
    /// Loads the network in <paramref name="path"/>: a model file (or checkpoint), or an ONNX model, whose final
    /// Softmax (if any) becomes the <c>ce</c> loss and whose raw SharpCnn <c>scores</c> output the <c>mse</c> loss.
    /// </summary>
    public static Network<T> Load<T>(string path, out string kind) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!File.Exists(path))
        {
            if (Directory.Exists(path)) throw new ArgumentException($"{path}: is a folder, expected a model file (.scnn or .onnx)");
            throw new FileNotFoundException($"{path}: no such model file", path);
        }
        if (!IsOnnx(path))
        {
            kind = "model file";
            return ModelFile.Load<T>(path);
        }
        var imported = OnnxImport.Load<T>(path, "ce");
        if (!imported.OutputIsProbabilities && imported.OutputName == OnnxExport.ScoresName && imported.Producer.StartsWith("SharpCnn", StringComparison.Ordinal))
            imported = OnnxImport.Load<T>(path, "mse"); // a SharpCnn export of an mse model: its outputs are scores, not logits
        kind = $"ONNX model from {imported.Producer}, imported";
        return imported.Network;
    }
}
