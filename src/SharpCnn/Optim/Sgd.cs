using SharpCnn.Kernels;
using SharpCnn.Tensors;

namespace SharpCnn.Optim;

/// <summary>
/// Plain stochastic gradient descent, as in the seeds:  w ← w - η · g
/// (with batch size 1 this is seed 000/001's single-sample training).
/// </summary>
public sealed class Sgd<T>(IEnumerable<Parameter<T>> parameters, double learningRate) : Optimizer<T>(parameters, learningRate)
    where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <inheritdoc />
    public override string Name => "sgd";

    /// <inheritdoc />
    public override IReadOnlyList<T[]> State => [];

    /// <summary>
    /// The update a layer applies itself when it folds this step into its backward pass: the same operations as
    /// <see cref="Optimizer{T}.Step()"/> with this optimiser (weight decay, then w ← w + (-η)·g), so the same bits.
    /// </summary>
    internal SgdStep<T> FusedStep => new(T.CreateChecked(-LearningRate), T.CreateChecked(WeightDecay), WeightDecay != 0);

    /// <inheritdoc />
    protected override void Update(int index, int offset, Span<T> w, ReadOnlySpan<T> g) =>
        ElementwiseKernels.MultiplyAdd(g, T.CreateChecked(-LearningRate), w, w);
}
