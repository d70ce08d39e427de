using Google.Protobuf;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Formats.Onnx;

/// <summary>A network read from an ONNX model, and what the importer learned about the model.</summary>
/// <typeparam name="T">The precision the network was built in.</typeparam>
public sealed class ImportedOnnxModel<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    internal ImportedOnnxModel(Network<T> network, bool outputIsProbabilities, string inputName, string outputName,
        string producer, long opset, IReadOnlyList<string> notes)
    {
        Network = network;
        OutputIsProbabilities = outputIsProbabilities;
        InputName = inputName;
        OutputName = outputName;
        Producer = producer;
        Opset = opset;
        Notes = notes;
    }

    /// <summary>
    /// The network. Its output is the ONNX graph's output before any final Softmax: apply
    /// softmax to it to get the ONNX output when <see cref="OutputIsProbabilities"/> is true.
    /// </summary>
    public Network<T> Network { get; }

    /// <summary>True when the ONNX graph ended with Softmax (which became part of the loss, not a layer).</summary>
    public bool OutputIsProbabilities { get; }

    /// <summary>The ONNX graph's input name.</summary>
    public string InputName { get; }

    /// <summary>The ONNX graph's output name.</summary>
    public string OutputName { get; }

    /// <summary>The producer the file names (e.g. "pytorch 1.13.1"), or "unknown".</summary>
    public string Producer { get; }

    /// <summary>The version of the standard ONNX operator set the model uses.</summary>
    public long Opset { get; }

    /// <summary>What the importer folded or dropped on the way (an Add merged into a bias, a Pad into a Conv, ...).</summary>
    public IReadOnlyList<string> Notes { get; }
}

/// <summary>
/// Reads an ONNX model built from the operators SharpCnn has layers for and turns it into
/// a <see cref="Network{T}"/>. Each layer kind reads its own operators (<see cref="SupportedOperators"/>;
/// the kinds' descriptions in the layers' files say how): Conv (any padding, equal strides, groups
/// as a connection table), MaxPool and AveragePool (where their edge handling matches SharpCnn's),
/// Gemm and MatMul, Relu, Sigmoid, Tanh, Flatten and Reshape (to [N, D]), Slice (a centre crop),
/// BatchNormalization (inference: a batch-norm layer with the file's γ, β, running statistics
/// and epsilon), Dropout (inference: a dropout layer with the file's ratio, the identity in
/// evaluation) and Identity (dropped); the graph walk itself reads Constant, a zero Pad (merged
/// into the next Conv or pooling), an Add of a constant (merged into the bias of a Gemm, MatMul
/// or Conv before it) and a final Softmax (kept as the loss).
///
/// Nothing in the file is trusted: its size is bounded, the protobuf is parsed from memory
/// with length checks, every tensor's dimensions are checked against the data it carries
/// before anything is allocated, the network is built under a <see cref="ParameterBudget"/>
/// (at most the weight values the file's tensors carry, plus as many again, at least 65,536,
/// for the zeros the importer fills in: left-out biases, the blocks between the groups of a
/// grouped convolution), so a small file claiming a huge layer fails before it is allocated, every attribute is checked by name and type, and the
/// graph must be one chain from its input to its output (each node reads the output of the
/// one before; weights are initializers or Constant nodes). Anything else — an operator or
/// attribute SharpCnn cannot reproduce exactly, a name no earlier node produced (out of
/// order, a cycle, a missing initializer), a branch — is a <see cref="FileFormatException"/>
/// naming the file, the node and its operator, and what is wrong.
/// </summary>
public static class OnnxImport
{
    /// <summary>Largest ONNX file read (1 GiB).</summary>
    public const long MaxFileBytes = 1L << 30;

    /// <summary>Oldest operator-set version read.</summary>
    public const long MinOpset = 7;

    /// <summary>Newest operator-set version read.</summary>
    public const long MaxOpset = 23;

    /// <summary>The operators the importer reads.</summary>
    public static IReadOnlyList<string> SupportedOperators => OnnxGraphImporter.Operators;

    /// <summary>Reads the ONNX model at <paramref name="path"/> as a network in precision <typeparamref name="T"/>.</summary>
    /// <param name="path">The .onnx file.</param>
    /// <param name="loss">The loss the network gets (ce, softmax-mse or mse); ONNX models carry none.</param>
    /// <exception cref="FileFormatException">The file is not an ONNX model this importer can reproduce exactly.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static ImportedOnnxModel<T> Load<T>(string path, string loss = "ce") where T : unmanaged, IFloatingPointIeee754<T>
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new FileNotFoundException($"{path}: no such ONNX file", path);
            if (info.Length > MaxFileBytes) throw new FileFormatException(path, -1, $"an ONNX file of {info.Length} bytes is larger than this reader accepts ({MaxFileBytes} bytes)");
            bytes = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new FileFormatException(path, -1, "cannot be read: " + e.Message, e);
        }
        return Read<T>(bytes, path, loss);
    }

    /// <summary>Reads an ONNX model held in memory; <paramref name="name"/> is what error messages call it.</summary>
    /// <param name="bytes">A serialized ONNX ModelProto.</param>
    /// <param name="name">The file name for messages.</param>
    /// <param name="loss">The loss the network gets.</param>
    /// <exception cref="FileFormatException">The bytes are not an ONNX model this importer can reproduce exactly.</exception>
    public static ImportedOnnxModel<T> Read<T>(byte[] bytes, string name, string loss = "ce") where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (Losses.Losses.Canonical(loss) is null) throw new ArgumentException($"unknown loss '{loss}'; expected one of: {string.Join(", ", Losses.Losses.Names)}", nameof(loss));
        if (bytes.LongLength > MaxFileBytes) throw new FileFormatException(name, -1, $"an ONNX model of {bytes.LongLength} bytes is larger than this reader accepts ({MaxFileBytes} bytes)");
        ModelProto model;
        try
        {
            // Parsing from an array: every length prefix is checked against the bytes that remain.
            var input = new CodedInputStream(bytes);
            model = ModelProto.Parser.ParseFrom(input);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FileFormatException(name, -1, $"is not a valid ONNX (protobuf) model: {e.Message}", e);
        }
        var plan = new OnnxGraphImporter(name, model).Translate();
        var imported = Build<T>(plan, name, loss);
        ReadClassNames(model, imported.Network, name);
        return imported;
    }

    /// <summary>The classes' names a SharpCnn export wrote into metadata_props (<see cref="OnnxExport.ClassNamesKey"/>), if any.</summary>
    private static void ReadClassNames<T>(ModelProto model, Network<T> network, string name) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var entries = model.MetadataProps.Where(p => p.Key == OnnxExport.ClassNamesKey).ToList();
        if (entries.Count == 0) return;
        if (entries.Count > 1) throw new FileFormatException(name, -1, $"has the metadata '{OnnxExport.ClassNamesKey}' {entries.Count} times; expected it once");
        string[]? names;
        try
        {
            names = System.Text.Json.JsonSerializer.Deserialize(entries[0].Value, OnnxJson.Default.StringArray);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new FileFormatException(name, -1, $"has metadata '{OnnxExport.ClassNamesKey}' that is not a JSON array of strings: {e.Message.ReplaceLineEndings(" ")}", e);
        }
        if (names is null || names.Length != network.Classes || names.Any(string.IsNullOrWhiteSpace))
            throw new FileFormatException(name, -1, $"has metadata '{OnnxExport.ClassNamesKey}' that does not name each of the model's {network.Classes} classes (expected a JSON array of {network.Classes} non-empty strings)");
        network.ClassNames = names;
    }

    private static ImportedOnnxModel<T> Build<T>(OnnxGraphImporter.Plan plan, string name, string loss) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var description = new ModelSpec(plan.Layers.Select(l => l.Spec));
        string spec = description.Text;
        Network<T> network;
        try
        {
            using var budget = ParameterBudget.Limit(plan.ParameterBudget, plan.BudgetHolder);
            network = description.Build<T>(plan.Input, loss);
        }
        catch (ModelSpecException e)
        {
            throw new FileFormatException(name, -1, $"the graph translates to the network '{spec}', which SharpCnn cannot build: {e.Message}", e);
        }
        if (network.OutputShape.Size != plan.OutputSize)
            throw new InvalidOperationException($"importer shape inference ({plan.OutputSize} outputs) disagrees with the network '{spec}' ({network.OutputShape})");
        for (int k = 0; k < plan.Layers.Count; k++)
        {
            var parameters = network.Layers[k].Parameters;
            var values = plan.Layers[k].Parameters;
            if (parameters.Count != values.Length)
                throw new InvalidOperationException($"layer {k + 1} ({plan.Layers[k].Token}) has {parameters.Count} parameters, the importer made {values.Length}");
            for (int i = 0; i < values.Length; i++)
            {
                var target = parameters[i].Value;
                if (target.Length != values[i].Length)
                    throw new InvalidOperationException($"layer {k + 1} ({plan.Layers[k].Token}) parameter {parameters[i].Name} has {target.Length} values, the importer made {values[i].Length}");
                for (int j = 0; j < target.Length; j++)
                {
                    target[j] = T.CreateChecked(values[i][j]);
                    if (!T.IsFinite(target[j]))
                        throw new FileFormatException(name, -1, $"{plan.Layers[k].Node}, layer {k + 1} ({plan.Layers[k].Token}): {parameters[i].Name} value {values[i][j]:R} (element {j}) does not fit in {typeof(T).Name.ToLowerInvariant()}");
                }
                parameters[i].ApplyMask();
            }
            if (network.Layers[k].StateProblem() is { } problem)
                throw new FileFormatException(name, -1, $"{plan.Layers[k].Node}, layer {k + 1} ({plan.Layers[k].Token}): {problem}");
        }
        return new ImportedOnnxModel<T>(network, plan.EndsWithSoftmax, plan.InputName, plan.OutputName, plan.Producer, plan.Opset, plan.Notes);
    }
}
