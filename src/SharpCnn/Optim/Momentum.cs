using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Optim;

/// <summary>
/// SGD with momentum (the form PyTorch uses):
///   v ← μ · v + g,   w ← w - η · v
/// </summary>
public sealed class Momentum<T> : Optimizer<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly T[][] velocity;

    /// <summary>Creates the optimiser with momentum <paramref name="momentum"/> (μ, typically 0.9).</summary>
    public Momentum(IEnumerable<Parameter<T>> parameters, double learningRate, double momentum = 0.9) : base(parameters, learningRate)
    {
        if (!(momentum >= 0 && momentum < 1)) throw new ArgumentOutOfRangeException(nameof(momentum), momentum, "momentum must be in [0, 1)");
        Mu = momentum;
        velocity = Parameters.Select(p => new T[p.Length]).ToArray();
    }

    /// <summary>The momentum coefficient μ.</summary>
    public double Mu { get; }

    /// <inheritdoc />
    public override string Name => "momentum";

    /// <inheritdoc />
    public override IReadOnlyList<T[]> State => velocity;

    /// <inheritdoc />
    protected override bool FoldsWeightDecay => true;

    /// <inheritdoc />
    /// <remarks>One pass (ElementwiseKernels.MomentumStep): the decay, the velocity and the weights, bit for bit what the three passes computed.</remarks>
    protected override void Update(int index, int offset, Span<T> w, ReadOnlySpan<T> g) =>
        ElementwiseKernels.MomentumStep(w, g, velocity[index].AsSpan(offset, w.Length), T.CreateChecked(Mu), T.CreateChecked(-LearningRate), T.CreateChecked(WeightDecay), DecaysWeight(index));
}
