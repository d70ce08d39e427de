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
/// How each layer is written (standard operators only):
/// <list type="bullet">
/// <item>conv → Conv with explicit pads and strides; a connection table becomes zero weights.</item>
/// <item>dense → Gemm (transB = 1), after a Flatten when its input is a map.</item>
/// <item>maxpool → MaxPool; in 'pad' edge mode with the bottom/right padding as end pads, then
///   a Max with a constant that is 0 on the windows reaching into the padding and -inf on the
///   others: ONNX MaxPool ignores padded positions, SharpCnn's padded zeros take part in the max.
///   (Pad(0) + MaxPool would say the same, but ONNX Runtime's optimizer folds such a Pad into
///   MaxPool's pads and so changes the result.)</item>
/// <item>meanpool → AveragePool with the bottom/right padding as end pads and
///   count_include_pad = 1, so the divisor is always kh·kw like SharpCnn's zero-padded mean
///   (count_include_pad = 0 would divide partial windows by their in-bounds count); ceil_mode
///   stays 0 because the explicit pads already make the last window complete. When a window
///   lies wholly in the padding (stride larger than the window), which ONNX pooling rejects,
///   a depthwise Conv with a constant 1/(kh·kw) kernel instead. Max pooling has no such
///   form and is refused there.</item>
/// <item>subsample → a depthwise Conv (group = C) whose k x k kernel of channel c is β[c]
///   everywhere and whose bias is b[c]: β·(window sum) + b.</item>
/// <item>relu, sigmoid, tanh → Relu, Sigmoid, Tanh; flatten → Flatten; identity → nothing.</item>
/// <item>minusmax → ReduceMax (keepdims) and Sub.</item>
/// <item>divnorm → ReduceL2 (keepdims), Div, and Where(norm = 0, 0, quotient) so a zero
///   vector maps to zero as in SharpCnn.</item>
/// <item>crop → Slice on the height and width axes.</item>
/// <item>batchnorm → BatchNormalization in inference form: scale γ, B β, input_mean and input_var the
///   running statistics, epsilon ε and momentum 1 - ρ (ONNX's momentum weighs the old running value,
///   SharpCnn's ρ the batch's; ONNX reads it only in training). On conv maps [N, C, H, W] it is per
///   channel; on a dense layer's [N, D] output it is per feature (ONNX's C = D), as in SharpCnn.</item>
/// <item>dropout → Dropout with its rate as the ratio input and no training_mode, which ONNX defines
///   as inference: the identity. Written rather than left out so the architecture survives a round
///   trip (the importer reads it back as the same dropout layer, a PyTorch-based reader as nn.Dropout),
///   and ONNX Runtime runs it as the identity with its graph optimizations on or off
///   (tests/onnx-check).</item>
/// </list>
/// A layer whose input is a flat vector but needs maps (a conv after a dense) gets a
/// Reshape to [N, D, 1, 1] first, mirroring SharpCnn's D x 1 x 1 vectors.
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

        var state = new Flow(writer, InputName, input, Flat: false);
        for (int k = 0; k < network.Layers.Count; k++)
            state = ExportLayer(state, network.Layers[k], k + 1);

        if (!state.Flat) state = state.Next(writer.Node("Flatten", "output_flatten", "output_flat", [state.Tensor], OnnxGraphWriter.Int("axis", 1)), state.Shape, true);
        string outputName = OutputName(network);
        string final = AppliesSoftmax(network.Loss.Name)
            ? writer.Node("Softmax", "output_softmax", outputName, [state.Tensor], OnnxGraphWriter.Int("axis", 1))
            : writer.Node("Identity", "output_identity", outputName, [state.Tensor]);
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
        if (metadata is not null)
            foreach (var (key, value) in metadata)
                model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    /// <summary>Where the export stands: the tensor holding the current activation, its per-sample shape, and whether it is [N, D] (flat) or [N, C, H, W].</summary>
    private sealed record Flow(OnnxGraphWriter Writer, string Tensor, Shape Shape, bool Flat)
    {
        public Flow Next(string tensor, Shape shape, bool flat) => this with { Tensor = tensor, Shape = shape, Flat = flat };

        /// <summary>The activation as [N, C, H, W] (a flat vector becomes [N, D, 1, 1]).</summary>
        public Flow AsMaps(string prefix)
        {
            if (!Flat) return this;
            string dims = Writer.Int64s($"{prefix}.maps_shape", -1, Shape.Channels, Shape.Height, Shape.Width);
            return Next(Writer.Node("Reshape", $"{prefix}_maps", $"{prefix}_maps", [Tensor, dims]), Shape, false);
        }

        /// <summary>The activation as [N, D].</summary>
        public Flow AsVector(string prefix)
        {
            if (Flat) return this;
            return Next(Writer.Node("Flatten", $"{prefix}_flatten", $"{prefix}_flat", [Tensor], OnnxGraphWriter.Int("axis", 1)), Shape, true);
        }

        /// <summary>The axes holding one sample's values (what SharpCnn's per-sample vector layers reduce over).</summary>
        public long[] SampleAxes => Flat ? [1] : [1, 2, 3];
    }

    private static Flow ExportLayer<T>(Flow flow, Layer<T> layer, int position) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = flow.Writer;
        string p = $"L{position}";
        Shape outShape = layer.OutputShape;
        switch (layer)
        {
            case Conv2d<T> conv:
            {
                flow = flow.AsMaps(p);
                var (top, bottom, left, right) = conv.ResolvedPadding;
                float[] weights = ToFloats(conv.Weight.Value);
                if (conv.Weight.Mask is { } mask)
                    for (int i = 0; i < mask.Length; i++)
                        if (!mask[i]) weights[i] = 0f;
                string wt = w.Floats($"{p}.weight", [conv.OutChannels, layer.InputShape.Channels, conv.KernelHeight, conv.KernelWidth], weights);
                string bt = w.Floats($"{p}.bias", [conv.OutChannels], ToFloats(conv.Bias.Value));
                string y = w.Node("Conv", $"{p}_conv", $"{p}_conv", [flow.Tensor, wt, bt],
                    OnnxGraphWriter.Ints("kernel_shape", conv.KernelHeight, conv.KernelWidth),
                    OnnxGraphWriter.Ints("strides", conv.Stride, conv.Stride),
                    OnnxGraphWriter.Ints("pads", top, left, bottom, right),
                    OnnxGraphWriter.Ints("dilations", 1, 1),
                    OnnxGraphWriter.Int("group", 1));
                return flow.Next(y, outShape, false);
            }
            case Dense<T> dense:
            {
                flow = flow.AsVector(p);
                int d = layer.InputShape.Size;
                string wt = w.Floats($"{p}.weight", [dense.Outputs, d], ToFloats(dense.Weight.Value));
                string bt = w.Floats($"{p}.bias", [dense.Outputs], ToFloats(dense.Bias.Value));
                string y = w.Node("Gemm", $"{p}_gemm", $"{p}_gemm", [flow.Tensor, wt, bt],
                    OnnxGraphWriter.Int("transB", 1));
                return flow.Next(y, outShape, true);
            }
            case MaxPool2d<T> pool:
            {
                flow = flow.AsMaps(p);
                var window = pool.Window;
                var (padBottom, padRight) = EndPadding(layer.InputShape, outShape, window);
                if (padBottom >= window.Height || padRight >= window.Width)
                    throw new NotSupportedException($"layer {position} ({layer.Token}) on {layer.InputShape.Height}x{layer.InputShape.Width} maps has a window lying wholly in its padding; ONNX pooling needs pads smaller than the window");
                string y = w.Node("MaxPool", $"{p}_maxpool", $"{p}_maxpool", [flow.Tensor],
                    OnnxGraphWriter.Ints("kernel_shape", window.Height, window.Width),
                    OnnxGraphWriter.Ints("strides", window.Stride, window.Stride),
                    OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight));
                if (padBottom > 0 || padRight > 0)
                {
                    // ONNX MaxPool ignores its pads; SharpCnn's padded zeros take part in the max. So the windows
                    // that reach into the padding get max(window, 0): a Max with 0 there and -inf elsewhere.
                    // (Not Pad(0) + MaxPool: ONNX Runtime's Pad fusion would fold that Pad into MaxPool's pads.)
                    string floor = w.Floats($"{p}.padding_floor", [1, 1, outShape.Height, outShape.Width], PaddingFloor(layer.InputShape, outShape, window));
                    y = w.Node("Max", $"{p}_padding_floor", $"{p}_maxpool_padded", [y, floor]);
                }
                return flow.Next(y, outShape, false);
            }
            case MeanPool2d<T> pool:
            {
                flow = flow.AsMaps(p);
                var window = pool.Window;
                var (padBottom, padRight) = EndPadding(layer.InputShape, outShape, window);
                if (padBottom >= window.Height || padRight >= window.Width)
                {
                    // A window wholly in the padding (stride > window): ONNX pooling needs pads smaller than the
                    // window, so write the zero-padded mean as a depthwise Conv with a constant 1/(kh·kw) kernel.
                    int c = layer.InputShape.Channels, area = window.Height * window.Width;
                    var kernel = new float[c * area];
                    kernel.AsSpan().Fill(1f / area);
                    string wt = w.Floats($"{p}.mean_kernel", [c, 1, window.Height, window.Width], kernel);
                    string mean = w.Node("Conv", $"{p}_mean", $"{p}_mean", [flow.Tensor, wt],
                        OnnxGraphWriter.Ints("kernel_shape", window.Height, window.Width),
                        OnnxGraphWriter.Ints("strides", window.Stride, window.Stride),
                        OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight),
                        OnnxGraphWriter.Ints("dilations", 1, 1),
                        OnnxGraphWriter.Int("group", c));
                    return flow.Next(mean, outShape, false);
                }
                string y = w.Node("AveragePool", $"{p}_avgpool", $"{p}_avgpool", [flow.Tensor],
                    OnnxGraphWriter.Ints("kernel_shape", window.Height, window.Width),
                    OnnxGraphWriter.Ints("strides", window.Stride, window.Stride),
                    OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight),
                    OnnxGraphWriter.Int("count_include_pad", 1),
                    OnnxGraphWriter.Int("ceil_mode", 0));
                return flow.Next(y, outShape, false);
            }
            case Subsample2d<T> sub:
            {
                flow = flow.AsMaps(p);
                var (padBottom, padRight) = EndPadding(layer.InputShape, outShape, sub.Window);
                int c = layer.InputShape.Channels, kh = sub.Window.Height, kw = sub.Window.Width, area = kh * kw;
                var kernel = new float[c * area];
                for (int ch = 0; ch < c; ch++) kernel.AsSpan(ch * area, area).Fill(float.CreateSaturating(sub.Beta.Value[ch]));
                string wt = w.Floats($"{p}.beta_kernel", [c, 1, kh, kw], kernel);
                string bt = w.Floats($"{p}.bias", [c], ToFloats(sub.Bias.Value));
                string y = w.Node("Conv", $"{p}_subsample", $"{p}_subsample", [flow.Tensor, wt, bt],
                    OnnxGraphWriter.Ints("kernel_shape", kh, kw),
                    OnnxGraphWriter.Ints("strides", sub.Window.Stride, sub.Window.Stride),
                    OnnxGraphWriter.Ints("pads", 0, 0, padBottom, padRight),
                    OnnxGraphWriter.Ints("dilations", 1, 1),
                    OnnxGraphWriter.Int("group", c));
                return flow.Next(y, outShape, false);
            }
            case Relu<T>:
                return flow.Next(w.Node("Relu", $"{p}_relu", $"{p}_relu", [flow.Tensor]), outShape, flow.Flat);
            case Sigmoid<T>:
                return flow.Next(w.Node("Sigmoid", $"{p}_sigmoid", $"{p}_sigmoid", [flow.Tensor]), outShape, flow.Flat);
            case Tanh<T>:
                return flow.Next(w.Node("Tanh", $"{p}_tanh", $"{p}_tanh", [flow.Tensor]), outShape, flow.Flat);
            case Identity<T>:
                return flow;
            case Flatten<T>:
                return flow.AsVector(p);
            case SubtractMax<T>:
            {
                string max = w.Node("ReduceMax", $"{p}_max", $"{p}_max", [flow.Tensor],
                    OnnxGraphWriter.Ints("axes", flow.SampleAxes), OnnxGraphWriter.Int("keepdims", 1));
                return flow.Next(w.Node("Sub", $"{p}_minus_max", $"{p}_minus_max", [flow.Tensor, max]), outShape, flow.Flat);
            }
            case DivideByNorm<T>:
            {
                string norm = w.Node("ReduceL2", $"{p}_norm", $"{p}_norm", [flow.Tensor],
                    OnnxGraphWriter.Ints("axes", flow.SampleAxes), OnnxGraphWriter.Int("keepdims", 1));
                string zero = w.Floats($"{p}.zero", [], [0f]);
                string quotient = w.Node("Div", $"{p}_divide", $"{p}_quotient", [flow.Tensor, norm]);
                string isZero = w.Node("Equal", $"{p}_norm_is_zero", $"{p}_norm_is_zero", [norm, zero]);
                return flow.Next(w.Node("Where", $"{p}_divnorm", $"{p}_divnorm", [isZero, zero, quotient]), outShape, flow.Flat);
            }
            case CenterCrop<T> crop:
            {
                flow = flow.AsMaps(p);
                int top = (layer.InputShape.Height - crop.Height) / 2, left = (layer.InputShape.Width - crop.Width) / 2;
                string starts = w.Int64s($"{p}.starts", top, left);
                string ends = w.Int64s($"{p}.ends", top + crop.Height, left + crop.Width);
                string axes = w.Int64s($"{p}.axes", 2, 3);
                return flow.Next(w.Node("Slice", $"{p}_crop", $"{p}_crop", [flow.Tensor, starts, ends, axes]), outShape, false);
            }
            case BatchNorm<T> bn:
            {
                // BatchNormalization takes [N, C, ...]: [N, D] is C = D features as it stands; maps stay maps.
                if (flow.Flat && layer.InputShape.Height * layer.InputShape.Width != 1) flow = flow.AsMaps(p);
                long[] dims = [layer.InputShape.Channels];
                string scale = w.Floats($"{p}.gamma", dims, ToFloats(bn.Gamma.Value));
                string shift = w.Floats($"{p}.beta", dims, ToFloats(bn.Beta.Value));
                string mean = w.Floats($"{p}.running_mean", dims, ToFloats(bn.RunningMean.Value));
                string variance = w.Floats($"{p}.running_var", dims, ToFloats(bn.RunningVariance.Value));
                string y = w.Node("BatchNormalization", $"{p}_batchnorm", $"{p}_batchnorm", [flow.Tensor, scale, shift, mean, variance],
                    OnnxGraphWriter.Float("epsilon", (float)bn.Epsilon),
                    OnnxGraphWriter.Float("momentum", (float)(1 - bn.Momentum)));
                return flow.Next(y, outShape, flow.Flat);
            }
            case Dropout<T> dropout:
            {
                // ONNX Dropout without a training_mode input is inference, the identity (see the class summary for why it is written).
                string ratio = w.Floats($"{p}.ratio", [], [(float)dropout.Rate]);
                return flow.Next(w.Node("Dropout", $"{p}_dropout", $"{p}_dropout", [flow.Tensor, ratio]), outShape, flow.Flat);
            }
            default:
                throw new NotSupportedException($"layer {position} ({layer.Token}) has no ONNX form in this exporter");
        }
    }

    /// <summary>The zero rows (bottom) and columns (right) SharpCnn's 'pad' edge mode adds so the last window is complete.</summary>
    internal static (int Bottom, int Right) EndPadding(Shape input, Shape output, PoolWindow window) =>
        (Math.Max(0, (output.Height - 1) * window.Stride + window.Height - input.Height),
         Math.Max(0, (output.Width - 1) * window.Stride + window.Width - input.Width));

    /// <summary>
    /// The [Ho, Wo] floor a 'pad'-mode max pooling's output is raised to: 0 for each window that reaches
    /// into the bottom/right padding (its padded zeros take part in the max), -inf for the others.
    /// </summary>
    internal static float[] PaddingFloor(Shape input, Shape output, PoolWindow window)
    {
        var floor = new float[output.Height * output.Width];
        for (int u = 0; u < output.Height; u++)
            for (int v = 0; v < output.Width; v++)
                floor[u * output.Width + v] = u * window.Stride + window.Height > input.Height || v * window.Stride + window.Width > input.Width
                    ? 0f : float.NegativeInfinity;
        return floor;
    }

    private static float[] ToFloats<T>(ReadOnlySpan<T> values) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = float.CreateSaturating(values[i]);
        return result;
    }
}
