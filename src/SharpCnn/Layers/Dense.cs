using System.Numerics.Tensors;
using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Layers;

/// <summary>
/// Fully connected layer. Any input shape is read as a vector of D = C·H·W values
/// (so a Flatten before it is optional).
///
/// Shapes: x [N, D], weight [M, D], bias [M], y [N, M]  (weights [out, in], as PyTorch's Linear).
///
/// Forward:  y = x Wᵀ + b                 y[n,m] = b[m] + Σ_d x[n,d] w[m,d]
/// Backward: ∂L/∂W = δᵀ x                 ∂w[m,d] = Σ_n δ[n,m] x[n,d]
///           ∂L/∂b = Σ_n δ[n,·]
///           ∂L/∂x = δ W                  ∂x[n,d] = Σ_m δ[n,m] w[m,d]
/// (seed 000 writes the same per sample as Y = WX + b: ∂Y/∂W = Xᵀ, ∂Y/∂X = W.)
/// </summary>
public sealed class Dense<T> : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Creates a dense layer with <paramref name="outputs"/> units.</summary>
    public Dense(int outputs)
    {
        if (outputs <= 0) throw new ArgumentOutOfRangeException(nameof(outputs), outputs, "a dense layer needs at least one unit");
        Outputs = outputs;
    }

    /// <summary>Number of units.</summary>
    public int Outputs { get; }

    /// <summary>The weight [out, in].</summary>
    public Parameter<T> Weight => Parameters[0];

    /// <summary>The bias [out].</summary>
    public Parameter<T> Bias => Parameters[1];

    /// <inheritdoc />
    public override string Token => $"dense{Outputs}";

    /// <inheritdoc />
    protected override Shape Configure(Shape input) => Shape.Vector(Outputs);

    /// <inheritdoc />
    protected override Parameter<T>[] CreateParameters()
    {
        int d = InputShape.Size;
        return
        [
            new Parameter<T>("weight", [Outputs, d], ParameterRole.Weight) { FanIn = d, FanOut = Outputs },
            new Parameter<T>("bias", [Outputs], ParameterRole.Bias) { FanIn = d, FanOut = Outputs },
        ];
    }

    /// <inheritdoc />
    public override long ForwardFlops => 2L * Outputs * InputShape.Size;

    /// <inheritdoc />
    public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
    {
        CheckForward(x, y, n);
        int d = InputShape.Size, m = Outputs;
        ParallelGemm.Multiply(false, true, n, m, d, x, d, Weight.Value, d, y, m, accumulate: false);
        ReadOnlySpan<T> b = Bias.Value;
        for (int s = 0; s < n; s++) TensorPrimitives.Add(y.Slice(s * m, m), b, y.Slice(s * m, m));
    }

    /// <inheritdoc />
    public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
    {
        CheckBackward(x, y, dy, dx, n);
        int d = InputShape.Size, m = Outputs;
        // Each product splits its output columns over threads (bit-identical for any split); the
        // batch sums are the depth of ∂W's product and a sample-ordered loop for ∂b.
        ParallelGemm.Multiply(true, false, m, d, n, dy, m, x, d, Weight.Gradient, d, accumulate: true);
        Span<T> db = Bias.Gradient;
        for (int s = 0; s < n; s++) TensorPrimitives.Add(db, dy.Slice(s * m, m), db);
        if (!dx.IsEmpty) ParallelGemm.Multiply(false, false, n, d, m, dy, m, Weight.Value, d, dx, d, accumulate: false);
    }
}
