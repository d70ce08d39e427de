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
    public override string Token => "divnorm";

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => input;

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => norms = new T[batch];

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
