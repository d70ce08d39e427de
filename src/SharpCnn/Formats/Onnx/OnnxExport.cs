using Google.Protobuf;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Formats.Onnx;

/// <summary>
/// Writes a network as a standard ONNX model (IR version 7, operator set 13) that any ONNX
/// runtime can execute: float32 input <c>input</c> [N, C, H, W] with a symbolic batch N,
/// one output [N, classes] — <c>probabilities</c> (a final Softmax) when the model's loss
/// applies softmax (<c>ce</c>, <c>softmax-mse</c>), else the raw <c>scores</c> (<c>mse</c>).
/// Weights are stored as float32 whatever the network's precision.
///
/// Each layer is written by its description (<see cref="LayerSpec"/>, in the layer's own file) with
/// standard operators only; the descriptions' summaries say which. A layer whose input is a flat
/// vector but needs maps (a conv after a dense) gets a Reshape to [N, D, 1, 1] first, mirroring
/// SharpCnn's D x 1 x 1 vectors.
/// </summary>
public static class OnnxExport
{
    /// <summary>The ONNX operator-set version the exporter writes.</summary>
    public const int OpsetVersion = 13;

    /// <summary>The ONNX IR (file format) version written: 7, the one that goes with operator set 13.</summary>
    public const long IrVersion = 7;

    /// <summary>Name of the model's input tensor.</summary>
    public const string InputName = "input";

    /// <summary>Name of the output when it holds probabilities (the loss applies softmax).</summary>
    public const string ProbabilitiesName = "probabilities";

    /// <summary>Name of the output when it holds raw scores (loss <c>mse</c>).</summary>
    public const string ScoresName = "scores";

    /// <summary>The metadata_props key under which the classes' names are written, as a JSON array of strings by output index.</summary>
    public const string ClassNamesKey = "sharpcnn.class_names";

    /// <summary>The output tensor's name for <paramref name="network"/>: probabilities or scores.</summary>
    public static string OutputName<T>(Network<T> network) where T : unmanaged, IFloatingPointIeee754<T> =>
        AppliesSoftmax(network.Loss.Name) ? ProbabilitiesName : ScoresName;

    /// <summary>True when a model trained with loss <paramref name="loss"/> reads its outputs through softmax.</summary>
    public static bool AppliesSoftmax(string loss) => Losses.Losses.Canonical(loss) is "ce" or "softmax-mse";

    /// <summary>Writes <paramref name="network"/> to <paramref name="path"/> as an ONNX model (atomically: a failed write leaves any previous file intact).</summary>
    /// <param name="network">The network to export (its current weights).</param>
    /// <param name="path">The .onnx file to write.</param>
    /// <param name="metadata">Extra key/value pairs for the model's metadata_props.</param>
    public static void Save<T>(Network<T> network, string path, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        byte[] bytes = ToBytes(network, metadata);
        AtomicFile.Write(path, stream => stream.Write(bytes));
    }

    /// <summary>The ONNX model of <paramref name="network"/> as bytes (a serialized ModelProto).</summary>
    public static byte[] ToBytes<T>(Network<T> network, IReadOnlyDictionary<string, string>? metadata = null)
        where T : unmanaged, IFloatingPointIeee754<T> => Build(network, metadata).ToByteArray();

    internal static ModelProto Build<T>(Network<T> network, IReadOnlyDictionary<string, string>? metadata)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var writer = new OnnxGraphWriter();
        var graph = writer.Graph;
        graph.Name = "sharpcnn";
        graph.DocString = $"SharpCnn network {network.Spec}";
        Shape input = network.InputShape;
        graph.Input.Add(OnnxGraphWriter.FloatValue(writer.Name(InputName), "N", input.Channels, input.Height, input.Width));

        // Each node's output tensor and whether it is [N, D] (flat) or [N, C, H, W]; node 0 is the input.
        string tensor = InputName;
        bool flat = false;
        for (int k = 0; k < network.Layers.Count; k++)
        {
            var layer = network.Layers[k];
            var export = new OnnxLayerExport<T>(writer, k + 1, layer, tensor, flat);
            layer.Spec.ExportOnnx(export, layer);
            (tensor, flat) = export.Result();
        }

        if (!flat) tensor = writer.Node("Flatten", "output_flatten", "output_flat", [tensor], OnnxGraphWriter.Int("axis", 1));
        string outputName = OutputName(network);
        string final = AppliesSoftmax(network.Loss.Name)
            ? writer.Node("Softmax", "output_softmax", outputName, [tensor], OnnxGraphWriter.Int("axis", 1))
            : writer.Node("Identity", "output_identity", outputName, [tensor]);
        graph.Output.Add(OnnxGraphWriter.FloatValue(final, "N", network.Classes));

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "SharpCnn",
            ProducerVersion = typeof(OnnxExport).Assembly.GetName().Version?.ToString() ?? "0",
            ModelVersion = 1,
            DocString = $"Exported by SharpCnn from the network '{network.Spec}' (loss {network.Loss.Name}); output '{outputName}' [N, {network.Classes}].",
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = OpsetVersion });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "sharpcnn.spec", Value = network.Spec });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "sharpcnn.loss", Value = network.Loss.Name });
        model.MetadataProps.Add(new StringStringEntryProto { Key = "sharpcnn.input", Value = $"{input.Channels}x{input.Height}x{input.Width}" });
        if (network.ClassNames is { } names)
            model.MetadataProps.Add(new StringStringEntryProto { Key = ClassNamesKey, Value = System.Text.Json.JsonSerializer.Serialize(names, OnnxJson.Default.IReadOnlyListString) });
        if (metadata is not null)
            foreach (var (key, value) in metadata)
                model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(IReadOnlyList<string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
internal sealed partial class OnnxJson : System.Text.Json.Serialization.JsonSerializerContext;
