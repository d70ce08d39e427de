using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Losses;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Cli;

/// <summary>
/// <c>sharpcnn export-onnx MODEL OUT.onnx</c>: writes a saved model as a standard ONNX model
/// (operator set 13). With <c>--reference N</c> it also writes OUT.reference.json: N inputs
/// (test images, or seeded random inputs when the model does not take the data's shape)
/// and SharpCnn's outputs for them, so the export can be checked in any ONNX runtime
/// (tests/onnx-check does it with ONNX Runtime).
/// </summary>
internal static class ExportOnnxCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("model") { Description = "A model file saved by 'sharpcnn train --output' (.scnn)" };
        var output = new Argument<string>("output") { Description = "The ONNX file to write (.onnx)" };
        var reference = new Option<int>("--reference") { Description = "Also write OUTPUT's name with .reference.json: this many inputs and SharpCnn's layer-by-layer outputs for them (0 = none)" };
        var data = new Option<string?>("--data") { Description = "IDX folder whose test images the reference uses; default: the bundled digits' test images" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random reference inputs (models that do not take the data's image shape)", DefaultValueFactory = _ => 1 };
        var command = new Command("export-onnx", "Export a saved model as an ONNX model (opset 13) for ONNX Runtime and other tools") { model, output, reference, data, seed };
        command.SetAction(r => CommandErrors.Run(r.InvocationConfiguration.Error, () =>
        {
            var console = r.InvocationConfiguration.Output;
            string file = r.GetValue(model)!, target = r.GetValue(output)!;
            int count = r.GetValue(reference);
            if (count < 0) throw new ArgumentException($"--reference must be 0 or more, not {count}");
            var network = ModelFile.Load<float>(file);
            var header = ModelFile.ReadHeader(file);
            var metadata = new Dictionary<string, string> { ["sharpcnn.source"] = Path.GetFileName(file) };
            foreach (var (key, value) in header.Metadata) metadata[$"sharpcnn.{key}"] = value;
            OnnxExport.Save(network, target, metadata);
            string outputName = OnnxExport.OutputName(network);
            console.WriteLine($"wrote {target}: {network.Spec} as ONNX opset {OnnxExport.OpsetVersion}, input '{OnnxExport.InputName}' [N, {network.InputShape.Channels}, {network.InputShape.Height}, {network.InputShape.Width}], output '{outputName}' [N, {network.Classes}]");
            if (count > 0)
            {
                string path = ReferencePath(target);
                int written = WriteReference(network, target, path, count, r.GetValue(data), r.GetValue(seed));
                console.WriteLine($"wrote {path}: {written} inputs and SharpCnn's {outputName}");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>OUT.onnx → OUT.reference.json.</summary>
    public static string ReferencePath(string onnxPath) => Path.ChangeExtension(onnxPath, null) + ".reference.json";

    private static int WriteReference(Network<float> network, string onnxPath, string path, int count, string? dataFolder, ulong seed)
    {
        Shape shape = network.InputShape;
        float[] inputs;
        int[] labels;
        string source;
        var (_, test, label) = DataChoice.Load(dataFolder, 0, count);
        if (test.Shape.Size == shape.Size)
        {
            count = test.Count;
            inputs = new float[count * shape.Size];
            labels = new int[count];
            test.CopyBatch<float>(Enumerable.Range(0, count).ToArray(), inputs, labels);
            source = $"{label}: the first {count} test images";
        }
        else
        {
            var rng = new Rng(seed);
            inputs = new float[count * shape.Size];
            for (int i = 0; i < inputs.Length; i++) inputs[i] = (float)rng.NextDouble();
            labels = [];
            source = $"uniform random inputs in [0, 1), seed {seed} (the model takes {shape}, the data are {test.Shape})";
        }

        int classes = network.Classes;
        var outputs = new float[count * classes];
        bool softmax = OnnxExport.AppliesSoftmax(network.Loss.Name);
        // The layer-by-layer outputs (Winograd only where the layers run it themselves): the definition the exported graph must compute (docs/PERFORMANCE.md, "Winograd").
        using (var inference = new Inference<float>(network, batchSize: 256) { SameBitsAsForward = true })
        {
            foreach (var batch in inference.Batches(inputs))
            {
                for (int s = 0; s < batch.Count; s++)
                {
                    var target = outputs.AsSpan((batch.First + s) * classes, classes);
                    if (softmax) Softmax.Compute(batch.Output(s), target);
                    else batch.Output(s).CopyTo(target);
                }
            }
        }

        var document = new OnnxReference(
            Path.GetFileName(onnxPath), OnnxExport.InputName, OnnxExport.OutputName(network),
            [count, shape.Channels, shape.Height, shape.Width], classes, source, labels,
            Convert.ToBase64String(MemoryMarshal.AsBytes(inputs.AsSpan())),
            Convert.ToBase64String(MemoryMarshal.AsBytes(outputs.AsSpan())));
        File.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(document, OnnxReferenceJson.Default.OnnxReference));
        return count;
    }
}

/// <summary>
/// The reference file <c>export-onnx --reference</c> writes: inputs [N, C, H, W] and SharpCnn's
/// outputs [N, classes], both as base64 of little-endian float32, plus the labels when the
/// inputs are test images.
/// </summary>
internal sealed record OnnxReference(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("input")] string Input,
    [property: JsonPropertyName("output")] string Output,
    [property: JsonPropertyName("shape")] int[] Shape,
    [property: JsonPropertyName("classes")] int Classes,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("labels")] int[] Labels,
    [property: JsonPropertyName("inputs")] string Inputs,
    [property: JsonPropertyName("outputs")] string Outputs);

[JsonSerializable(typeof(OnnxReference))]
internal sealed partial class OnnxReferenceJson : JsonSerializerContext;
