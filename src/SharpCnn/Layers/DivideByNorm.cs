using SharpCnn.Formats.Onnx;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Seed 000's 'normal' scaling: divide each sample's vector by its Euclidean norm
/// (MATLAB's norm() of a vector). Unlike '-max' it changes what softmax sees: it
/// squeezes large score gaps, which is why the seed's 'normal' rows train poorly.
///
/// Shapes: any [N, D]; y has the same shape.
///
/// Forward:  r = ‖x‖₂ = sqrt(Σ_j x_j²),   y = x / r
/// Backward: ∂y_j/∂x_i = ([i = j] - y_i y_j) / r, so
///           ∂L/∂x = (δ - y · (y·δ)) / r
/// A zero vector has no direction: it maps to zero and passes no gradient.
/// </summary>
public sealed class DivideByNorm<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] norms = [];

    /// <inheritdoc />
    public override LayerSpec Spec => DivideByNormSpec.Instance;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => norms = new T[batch];

    /// <inheritdoc />
    internal override long ScratchBytes(int batch) => MemoryMath.Bytes<T>(batch, 1);

    /// <inheritdoc />
    public override long ForwardFlops => 3L * InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int d = InputShape.Size;
        for (int s = 0; s < n; s++)
        {
            ReadOnlySpan<T> xs = x.Slice(s * d, d);
            Span<T> ys = y.Slice(s * d, d);
            T r = T.Sqrt(Reductions.SumOfSquares<T>(xs));
            norms[s] = r;
            if (r == T.Zero)
            {
                ys.Clear();
                continue;
            }
            T inv = T.One / r;
            for (int i = 0; i < d; i++) ys[i] = xs[i] * inv;
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
            ReadOnlySpan<T> ys = y.Slice(s * d, d), g = dy.Slice(s * d, d);
            Span<T> dxs = dx.Slice(s * d, d);
            T r = norms[s];
            if (r == T.Zero)
            {
                dxs.Clear();
                continue;
            }
            T dot = Reductions.Dot<T>(ys, g);
            T inv = T.One / r;
            for (int i = 0; i < d; i++) dxs[i] = (g[i] - ys[i] * dot) * inv;
        }
    }
}

/// <summary>The description of a <see cref="DivideByNorm{T}"/>: token <c>divnorm</c> (or <c>norm</c>); ONNX <c>ReduceL2</c>, <c>Div</c>, <c>Equal</c> and <c>Where</c> (written, not read back).</summary>
public sealed record DivideByNormSpec : LayerSpec
{
    /// <summary>The one description of this kind (it has no options).</summary>
    public static DivideByNormSpec Instance { get; } = new();

    /// <inheritdoc />
    public override LayerKind Kind => DivideByNormKind.Instance;

    /// <inheritdoc />
    public override string Token => "divnorm";

    /// <inheritdoc />
    public override Layer<T> Create<T>() => new DivideByNorm<T>();

    /// <summary>ReduceL2 over each sample's values (keepdims), Div, and Where(norm = 0, 0, quotient) so a zero vector maps to zero as in SharpCnn.</summary>
    internal override void ExportOnnx<T>(OnnxLayerExport<T> export, Layer<T> layer)
    {
        string norm = export.Node("ReduceL2", "norm", [export.Input],
            OnnxGraphWriter.Ints("axes", export.SampleAxes), OnnxGraphWriter.Int("keepdims", 1));
        string zero = export.Floats("zero", [], [0f]);
        string quotient = export.Node("Div", "divide", "quotient", [export.Input, norm]);
        string isZero = export.Node("Equal", "norm_is_zero", [norm, zero]);
        export.Emit(export.Node("Where", "divnorm", [isZero, zero, quotient]), export.Flat);
    }
}

/// <summary>The DivideByNorm (seed 000's 'normal') kind: token <c>divnorm</c>.</summary>
public sealed class DivideByNormKind() : WordLayerKind<DivideByNormSpec>("divnorm", "norm")
{
    /// <summary>The registered instance.</summary>
    public static DivideByNormKind Instance { get; } = new();

    /// <inheritdoc />
    protected override DivideByNormSpec Description => DivideByNormSpec.Instance;

    /// <inheritdoc />
    public override string Summary => "seed 000's 'normal': divide each sample by its L2 norm (0 stays 0)";

    /// <inheritdoc />
    public override LayerTraits Traits => LayerTraits.None;
}
