using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// LeNet's trainable subsampling layer (the S-layer of seed 002 / Bouvrie's notes): each
/// channel's block sums are scaled by a trainable β and shifted by a trainable bias.
///
/// Shapes: x [N, C, H, W], β [C], b [C], y [N, C, Ho, Wo]; k x k blocks moved by k
/// (edge mode as for pooling; padded positions are zeros).
///
/// Forward:  d[n,c,u,v] = Σ_{i,j∈[0,k)} x[n, c, u·k + i, v·k + j]     (Bouvrie's down(x))
///           y[n,c,u,v] = β[c] · d[n,c,u,v] + b[c]
/// Backward: ∂L/∂b[c] = Σ_{n,u,v} δ[n,c,u,v]
///           ∂L/∂β[c] = Σ_{n,u,v} δ[n,c,u,v] · d[n,c,u,v]
///           ∂L/∂x[n,c,p,q] = β[c] · δ[n,c,⌊p/k⌋,⌊q/k⌋]           (Bouvrie's up(δ) = δ ⊗ 1_{k×k}, times β)
/// The activation LeNet applies after it is a separate layer.
/// </summary>
public sealed class Subsample2d<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private T[] sums = [];

    /// <summary>Creates subsampling over <paramref name="window"/> x <paramref name="window"/> blocks.</summary>
    public Subsample2d(int window, PoolEdge edge = PoolEdge.Drop)
    {
        Window = new PoolWindow(window, window, window, edge);
    }

    /// <summary>The block geometry.</summary>
    public PoolWindow Window { get; }

    /// <summary>The multiplicative coefficient β [C].</summary>
    public Parameter<T> Beta => Parameters[0];

    /// <summary>The additive bias [C].</summary>
    public Parameter<T> Bias => Parameters[1];

    /// <inheritdoc />
    public override string Token => "subsample" + Window.Suffix;

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Window.Apply(input);

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        int c = InputShape.Channels, area = Window.Height * Window.Width;
        return
        [
            new Parameter<T>("beta", [c], ParameterRole.Weight) { FanIn = area, FanOut = 1 },
            new Parameter<T>("bias", [c], ParameterRole.Bias) { FanIn = area, FanOut = 1 },
        ];
    }

    /// <inheritdoc />
    protected override void ReserveScratch(int batch) => sums = new T[batch * OutputShape.Size];

    /// <inheritdoc />
    public override long ForwardFlops => (long)OutputShape.Size * (Window.Height * Window.Width + 2);

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int plane = OutputShape.Height * OutputShape.Width, channels = InputShape.Channels;
        WindowSums.Forward<T>(x, sums, n * channels, InputShape, OutputShape, Window);
        ReadOnlySpan<T> beta = Beta.Value, bias = Bias.Value;
        for (int pl = 0; pl < n * channels; pl++)
        {
            T bt = beta[pl % channels], bs = bias[pl % channels];
            ReadOnlySpan<T> d = sums.AsSpan(pl * plane, plane);
            Span<T> yp = y.Slice(pl * plane, plane);
            for (int i = 0; i < plane; i++) yp[i] = bt * d[i] + bs;
        }
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        int plane = OutputShape.Height * OutputShape.Width, channels = InputShape.Channels;
        Span<T> dbeta = Beta.Gradient, dbias = Bias.Gradient;
        for (int pl = 0; pl < n * channels; pl++)
        {
            ReadOnlySpan<T> d = sums.AsSpan(pl * plane, plane), g = dy.Slice(pl * plane, plane);
            T sb = T.Zero, sd = T.Zero;
            for (int i = 0; i < plane; i++)
            {
                sb += g[i];
                sd += g[i] * d[i];
            }
            dbias[pl % channels] += sb;
            dbeta[pl % channels] += sd;
        }
        if (!dx.IsEmpty) WindowSums.Backward(dy, dx, n * channels, InputShape, OutputShape, Window, Beta.Value, T.One);
    }
}
