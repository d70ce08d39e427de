namespace SharpCnn.Layers;

/// <summary>
/// A layer whose training-mode forward pass makes random choices (dropout's mask). Its
/// choices are a pure function of a seed and the training step, never of a stateful
/// generator: the trainer calls <see cref="SetStep"/> with the optimiser's step count
/// before each training forward pass (through <see cref="Model.Network{T}.SetStep"/>), so
/// the same step always draws the same choices, a resumed run needs no extra state, and
/// a fixed (seed, step) makes the layer an ordinary function that gradient checks can test.
/// </summary>
public interface IStepSeeded
{
    /// <summary>Fixes the random choices of the following forward/backward passes to those of (<paramref name="seed"/>, <paramref name="step"/>).</summary>
    void SetStep(ulong seed, long step);
}
