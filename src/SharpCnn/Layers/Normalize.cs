using SharpCnn.Formats.Onnx;
using SharpCnn.Formats.Onnx.Proto;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Per-channel input normalisation, the model's own preprocessing: each channel's values have a
/// mean μ_c subtracted and are divided by a standard deviation σ_c (torchvision's
/// <c>Normalize(mean, std)</c>, Keras's <c>Normalization</c> layer). μ and σ are not trained: they
/// are state (<see cref="ParameterRole.State"/>) measured on the training set before training
/// (<see cref="SetStatistics"/>, with <see cref="Data.ImageDataSet.ChannelStatistics"/>) or given,
/// and saved with the model, so evaluation, <c>predict</c> and the ONNX export all feed the network
/// raw pixel / 255 values and this layer normalises them.
///
/// Shapes: any; y has x's shape. On maps [N, C, H, W] there is one (μ, σ) per channel; on a flat
/// [N, D] input, one per feature (D x 1 x 1 is D channels of 1 x 1).
///
/// Forward:  y[n,c,i,j] = (x[n,c,i,j] - μ_c) / σ_c
/// Backward: ∂L/∂x[n,c,i,j] = ∂L/∂y[n,c,i,j] / σ_c         (μ and σ get no gradient)
///
/// Until statistics are set, μ = 0 and σ = 1: the identity. σ must be positive and finite
/// (a channel that never varies gets σ = 1 when measured); a model file or ONNX graph with another
/// σ is refused when it is read.
/// </summary>
public sealed class Normalize<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>μ, one per channel (state, not trained).</summary>
    public Parameter<T> Mean => Parameters[0];

    /// <summary>σ, one per channel (state, not trained).</summary>
    public Parameter<T> Std => Parameters[1];

    /// <inheritdoc />
    public override LayerSpec Spec => NormalizeSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        int c = InputShape.Channels;
        return
        [
            new Parameter<T>("mean", [c], ParameterRole.State) { InitialValue = 0 },
            new Parameter<T>("std", [c], ParameterRole.State) { InitialValue = 1 },
        ];
    }

    /// <inheritdoc />
    public override long ForwardFlops => 2L * InputShape.Size;

    /// <summary>
    /// Sets μ and σ: one value each per channel, or one value for every channel. A σ of 0 (a channel
    /// that never varies) becomes 1, so that channel is only shifted.
    /// </summary>
    /// <exception cref="ArgumentException">The counts do not fit the channels, a value is not finite, or a σ is negative.</exception>
    public void SetStatistics(ReadOnlySpan<double> mean, ReadOnlySpan<double> std)
    {
        if (!IsBuilt) throw new InvalidOperationException("normalize: build the layer (or the network) before setting its statistics");
        int c = InputShape.Channels;
        if (mean.Length is not 1 && mean.Length != c) throw new ArgumentException($"normalize takes {c} means (one per input channel) or one for all, got {mean.Length}", nameof(mean));
        if (std.Length is not 1 && std.Length != c) throw new ArgumentException($"normalize takes {c} standard deviations (one per input channel) or one for all, got {std.Length}", nameof(std));
        for (int i = 0; i < c; i++)
        {
            double m = mean[mean.Length == 1 ? 0 : i], s = std[std.Length == 1 ? 0 : i];
            if (!double.IsFinite(m)) throw new ArgumentException($"normalize: mean {m} of channel {i} is not a finite number", nameof(mean));
            if (!double.IsFinite(s) || s < 0) throw new ArgumentException($"normalize: standard deviation {s} of channel {i} is not a finite number of 0 or more", nameof(std));
            Mean.Value[i] = T.CreateChecked(m);
            Std.Value[i] = s == 0 || !T.IsNormal(T.CreateChecked(s)) ? T.One : T.CreateChecked(s);
        }
    }

    /// <inheritdoc />
    public override string? StateProblem()
    {
        for (int i = 0; i < Std.Length; i++)
            if (!(Std.Value[i] > T.Zero) || !T.IsFinite(Std.Value[i])) return $"std[{i}] is {Std.Value[i]}; a standard deviation must be positive and finite";
        return null;
    }

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int c = InputShape.Channels, plane = InputShape.Height * InputShape.Width;
        ReadOnlySpan<T> mean = Mean.Value, std = Std.Value;
        for (int s = 0; s < n; s++)
            for (int ch = 0; ch < c; ch++)
            {
                int start = (s * c + ch) * plane;
                T m = mean[ch], d = std[ch];
                var from = x.Slice(start, plane);
                var to = y.Slice(start, plane);
                // (x - μ) / σ as two rounded operations, exactly what ONNX's Sub then Div compute.
                for (int i = 0; i < from.Length; i++) to[i] = (from[i] - m) / d;
            }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int c = InputShape.Channels, plane = InputShape.Height * InputShape.Width;
        ReadOnlySpan<T> std = Std.Value;
        for (int s = 0; s < n; s++)
            for (int ch = 0; ch < c; ch++)
            {
                int start = (s * c + ch) * plane;
                T d = std[ch];
                var from = dy.Slice(start, plane);
                var to = dx.Slice(start, plane);
                for (int i = 0; i < from.Length; i++) to[i] = from[i] / d;
            }
    }
}

/// <summary>
/// The description of a <see cref="Normalize{T}"/>: token <c>normalize</c> (μ and σ are the layer's saved
/// state, not part of the token); ONNX <c>Sub</c> of μ then <c>Div</c> by σ, per channel.
/// </summary>
public sealed record NormalizeSpec : LayerSpec
{
    /// <summary>The one description (the layer has no options).</summary>
    public static NormalizeSpec Instance { get; } = new();

    private NormalizeSpec() { }

    /// <inheritdoc />
    public override LayerKind Kind => NormalizeKind.Instance;

    /// <inheritdoc />
    public override string Token => "normalize";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new Normalize<T>();

    /// <summary>Sub(x, μ) then Div(·, σ), with μ and σ as [1, C, 1, 1] constants on maps and [1, D] on vectors.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        var normalize = (Normalize<T>)layer;
        int c = layer.InputShape.Channels;
        long[] dims = export.Flat ? [1, c] : [1, c, 1, 1];
        string mean = export.Floats("mean", dims, OnnxLayerExport<T>.ToFloats(normalize.Mean.Value));
        string std = export.Floats("std", dims, OnnxLayerExport<T>.ToFloats(normalize.Std.Value));
        string centred = export.Node("Sub", "subtract_mean", [export.Input, mean]);
        export.Emit(export.Node("Div", "divide_std", [centred, std]), export.Flat);
    }
}

/// <summary>
/// The normalisation kind: grammar <c>normalize</c>; imports an ONNX <c>Sub</c> of a per-channel constant
/// (μ, with σ = 1), a <c>Div</c> by one (σ, with μ = 0), and a Sub followed by a Div as one layer.
/// </summary>
public sealed class NormalizeKind() : WordLayerKind<NormalizeSpec>("normalize", "normalise")
{
    /// <summary>The registered instance.</summary>
    public static NormalizeKind Instance { get; } = new();

    /// <inheritdoc />
    protected override NormalizeSpec Description => NormalizeSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "per-channel normalisation (x - mean) / std, with mean and std measured on the training set (or given) and saved with the model; not trained";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.Parameters | LayerTraits.Elementwise;

    /// <inheritdoc />
    internal override IReadOnlyList<string> OnnxOperators => ["Sub", "Div"];

    /// <summary>
    /// Sub(activation, constant) → normalize with μ = the constant and σ = 1; Div(activation, constant) right
    /// after such a Sub → the same layer's σ, otherwise a normalize with μ = 0 and σ = the constant. The
    /// constant is one value, or one per channel ([C], [C, 1, 1], [1, C, 1, 1] on maps; [D] or [1, D] on
    /// vectors). A constant first operand (c - x, c / x) is refused, as is a σ that is not positive.
    /// </summary>
    internal override void ImportOnnx(OnnxGraphImporter import, NodeProto node)
    {
        import.Attributes(node);
        import.RequireInputs(node, 2, 2);
        import.RequireOutputs(node, 1);
        bool divide = node.OpType == "Div";
        string role = divide ? "divisor" : "subtrahend";
        var constant = import.ConstantInput(node, 1, role, required: true)!;
        long c = import.Channels;
        var dims = constant.Dims;
        bool perChannel = import.Flat
            ? dims.Count == 0 || (dims.Count == 1 && (dims[0] == 1 || dims[0] == c)) || (dims.Count == 2 && dims[0] == 1 && (dims[1] == 1 || dims[1] == c))
            : dims.Count == 0 || (dims.Count == 1 && dims[0] == 1)
              || (dims.Count == 3 && (dims[0] == c || dims[0] == 1) && dims[1] == 1 && dims[2] == 1)
              || (dims.Count == 4 && dims[0] == 1 && (dims[1] == c || dims[1] == 1) && dims[2] == 1 && dims[3] == 1);
        if (!perChannel)
            throw import.NodeFail($"{(divide ? "divides by" : "subtracts")} '{constant.Name}' {OnnxGraphImporter.Dims(constant)}, which is not one value per {(import.Flat ? "feature" : "channel")} of the {c} {(import.Flat ? "features" : "channels")}; SharpCnn imports Sub and Div only as per-channel normalisation");
        var values = import.Reals(constant, role);
        import.Claim(2 * c, $"normalize[{c}]");
        var perValue = new double[c];
        for (int i = 0; i < c; i++) perValue[i] = values.Length == 1 ? values[0] : values[i];
        if (divide)
        {
            for (int i = 0; i < c; i++)
                if (!(perValue[i] > 0) || !double.IsFinite(perValue[i]))
                    throw import.NodeFail($"divides by {perValue[i]} in {(import.Flat ? "feature" : "channel")} {i}; a normalisation's standard deviation must be positive and finite");
            if (import.LastLayer is { Spec: NormalizeSpec } previous && previous.Output == import.Current && previous.Parameters[1].All(s => s == 1))
            {
                perValue.CopyTo(previous.Parameters[1], 0);
                import.Note($"{import.Label} became the standard deviation of layer {import.LayerCount} (normalize)");
                previous.Output = node.Output[0];
                return;
            }
            import.AddLayer(NormalizeSpec.Instance, [new double[c], perValue], node);
            return;
        }
        for (int i = 0; i < c; i++)
            if (!double.IsFinite(perValue[i])) throw import.NodeFail($"subtracts {perValue[i]} in {(import.Flat ? "feature" : "channel")} {i}; a normalisation's mean must be finite");
        import.AddLayer(NormalizeSpec.Instance, [perValue, [.. Enumerable.Repeat(1.0, (int)c)]], node);
    }
}
