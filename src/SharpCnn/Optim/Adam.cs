using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Optim;

/// <summary>
/// Adam (Kingma and Ba 2015), step t = 1, 2, ...:
///   m ← β1 m + (1 - β1) g,    v ← β2 v + (1 - β2) g²
///   w ← w - η · m̂ / (sqrt(v̂) + ε),   m̂ = m / (1 - β1^t),  v̂ = v / (1 - β2^t)
/// </summary>
public sealed class Adam<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] state; // m for parameter i at 2i, v at 2i + 1

    /// <summary>Creates Adam with the usual defaults β1 = 0.9, β2 = 0.999, ε = 1e-8.</summary>
    public Adam(IEnumerable<Parameter<T>> parameters, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
        : base(parameters, learningRate)
    {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new ArgumentOutOfRangeException(nameof(beta1), "betas must be in [0, 1)");
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "epsilon must be positive");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        state = Parameters.SelectMany(p => new[] { new T[p.Length], new T[p.Length] }).ToArray();
    }

    /// <summary>Decay of the first moment.</summary>
    public double Beta1 { get; }

    /// <summary>Decay of the second moment.</summary>
    public double Beta2 { get; }

    /// <summary>Added to the denominator.</summary>
    public double Epsilon { get; }

    /// <inheritdoc />
    public override string Name => "adam";

    /// <inheritdoc />
    public override IReadOnlyList<T[]> State => state;

    private T stepSize, stepEpsilon;

    /// <inheritdoc />
    /// <remarks>Folds the bias corrections into the step: η_t = η · sqrt(1 - β2^t) / (1 - β1^t), ε_t = ε · sqrt(1 - β2^t).</remarks>
    protected override void BeginStep()
    {
        double corr2 = Math.Sqrt(1 - Power(Beta2, StepCount));
        stepSize = T.CreateChecked(LearningRate * corr2 / (1 - Power(Beta1, StepCount)));
        stepEpsilon = T.CreateChecked(Epsilon) * T.CreateChecked(corr2);
    }

    /// <inheritdoc />
    /// <remarks>One fused, vectorised pass over the piece of w, g, m and v (ElementwiseKernels.Adam).</remarks>
    protected override void Update(int index, int offset, Span<T> w, ReadOnlySpan<T> g) =>
        ElementwiseKernels.Adam(w, g, state[2 * index].AsSpan(offset, w.Length), state[2 * index + 1].AsSpan(offset, w.Length),
            T.CreateChecked(Beta1), T.CreateChecked(Beta2), stepSize, stepEpsilon);

    /// <summary>
    /// β^t by repeated squaring in double-double arithmetic (each product's rounding error kept by a fused
    /// multiply-add, which is correctly rounded everywhere): the same bits on every machine, unlike Math.Pow
    /// (the C library's, which differs between platforms), and within an ulp or two of the exact power.
    /// </summary>
    internal static double Power(double beta, long t)
    {
        double resultHigh = 1, resultLow = 0, squareHigh = beta, squareLow = 0;
        for (long e = t; e > 0; e >>= 1)
        {
            if ((e & 1) != 0) (resultHigh, resultLow) = Product(resultHigh, resultLow, squareHigh, squareLow);
            if (e > 1) (squareHigh, squareLow) = Product(squareHigh, squareLow, squareHigh, squareLow);
        }
        return resultHigh + resultLow;
    }

    /// <summary>(ah + al)(bh + bl) as an unevaluated sum high + low.</summary>
    private static (double High, double Low) Product(double ah, double al, double bh, double bl)
    {
        double p = ah * bh;
        double error = Math.FusedMultiplyAdd(ah, bh, -p) + (ah * bl + al * bh);
        double high = p + error;
        return (high, error - (high - p));
    }
}
