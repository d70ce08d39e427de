using SharpCnn.Formats.Onnx;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Seed 000's '-max' pre-softmax scaling: subtract each sample's largest value.
/// Softmax is unchanged by it (softmax(x - c) = softmax(x)); it keeps exp() from
/// overflowing when the scores are large.
///
/// Shapes: any [N, D] (each sample's D values are one vector); y has the same shape.
///
/// Forward:  y_i = x_i - x_m,   m = argmax_j x_j (the first on ties)
/// Backward: ∂L/∂x_i = δ_i - [i = m] · Σ_j δ_j
/// (x_m appears in every y_j with coefficient -1, and in y_m also with +1, so y_m ≡ 0.)
/// </summary>
public sealed class SubtractMax<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private int[] argmax = [];

    /// <inheritdoc />
    public override LayerSpec Spec => SubtractMaxSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => argmax = new int[batch];

    /// <inheritdoc />
    internal override long ScratchBytes(int batch) => MemoryMath.Bytes<int>(batch, 1);

    /// <inheritdoc />
    public override long ForwardFlops => 2L * InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int d = InputShape.Size;
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> xs = x.Slice(s * d, d);
            int m = 0;
            for (int i = 1; i < d; i++) if (xs[i] > xs[m]) m = i;
            argmax[s] = m;
            T max = xs[m];
            Span<T> ys = y.Slice(s * d, d);
            for (int i = 0; i < d; i++) ys[i] = xs[i] - max;
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        if (dx.IsEmpty) return;
        int d = InputShape.Size;
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> g = dy.Slice(s * d, d);
            Span<T> dxs = dx.Slice(s * d, d);
            T sum = T.Zero;
            for (int i = 0; i < d; i++)
            {
                sum += g[i];
                dxs[i] = g[i];
            }
            dxs[argmax[s]] -= sum;
        }
    }
}

/// <summary>The description of a <see cref="SubtractMax{T}"/>: token <c>minusmax</c> (or <c>-max</c>); ONNX <c>ReduceMax</c> and <c>Sub</c> (written, not read back).</summary>
public sealed record SubtractMaxSpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static SubtractMaxSpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => SubtractMaxKind.Instance;

    /// <inheritdoc />
    public override string Token => "minusmax";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new SubtractMax<T>();

    /// <summary>ReduceMax over each sample's values (keepdims) and Sub.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        string max = export.Node("ReduceMax", "max", [export.Input],
            OnnxGraphWriter.Ints("axes", export.SampleAxes), OnnxGraphWriter.Int("keepdims", 1));
        export.Emit(export.Node("Sub", "minus_max", [export.Input, max]), export.Flat);
    }
}

/// <summary>The SubtractMax (seed 000's '-max') kind: token <c>minusmax</c>.</summary>
public sealed class SubtractMaxKind() : WordLayerKind<SubtractMaxSpec>("minusmax", "-max")
{
    /// <summary>The registered instance.</summary>
    public static SubtractMaxKind Instance { get; } = new();

    /// <inheritdoc />
    protected override SubtractMaxSpec Description => SubtractMaxSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "seed 000's '-max': subtract each sample's largest value";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.None;
}
