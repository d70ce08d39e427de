using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>
/// Makes networks ready to train: builds the layers a spec string, a preset or a list of layers describes and
/// draws their initial weights from a seed (<see cref="Initializer"/>). Every place that makes a fresh network
/// (<see cref="Classifier"/>, the command line, the experiments, the benchmarks) comes here, so the same spec,
/// initialiser and seed give the same weights everywhere. Loading a saved model is <see cref="Formats.ModelFile"/>'s.
/// </summary>
public static class ModelFactory
{
    /// <summary>The loss of a spec given without one: softmax cross-entropy.</summary>
    public const string DefaultLoss = "ce";

    /// <summary>The initialiser of a spec given without one: He (for ReLU networks).</summary>
    public const InitScheme DefaultInit = InitScheme.He;

    /// <summary>Builds the network <paramref name="spec"/> describes (see <see cref="ModelSpec"/>) and initialises it.</summary>
    /// <param name="spec">Layer tokens, e.g. <c>conv5x5x8:same,relu,maxpool2,flatten,dense10</c>.</param>
    /// <param name="input">Per-sample input shape; may be null when the spec starts with an <c>input…</c> token (if both are given they must agree).</param>
    /// <param name="loss"><c>ce</c> (softmax cross-entropy), <c>softmax-mse</c> or <c>mse</c>.</param>
    /// <param name="init">How the initial weights are drawn.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ModelSpecException">The spec is not valid or does not fit the input; the message names the position and reason.</exception>
    /// <exception cref="MemoryBudgetException">The network would not fit in the memory the process may use; nothing was allocated.</exception>
    public static Network<T> FromSpec<T>(string spec, Shape? input, string loss = DefaultLoss, InitScheme init = DefaultInit, ulong seed = 1)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        FromSpec<T>(ModelSpec.Parse(spec), input, loss, init, seed);

    /// <summary>
    /// Builds the network of a parsed <paramref name="spec"/> and initialises it, after checking (<see cref="MemoryEstimate"/>,
    /// for one sample, before anything is allocated) that it fits in the memory the process may use; a network that does not
    /// is refused with <see cref="MemoryBudgetException"/>.
    /// </summary>
    /// <inheritdoc cref="FromSpec{T}(string, Shape?, string, InitScheme, ulong)"/>
    public static Network<T> FromSpec<T>(ModelSpec spec, Shape? input, string loss = DefaultLoss, InitScheme init = DefaultInit, ulong seed = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(spec);
        MemoryEstimate.ForSpec<T>(spec, input, batch: 1).EnsureFits(); // sized before anything is allocated
        var network = spec.Build<T>(input, loss);
        Initialize(network, init, seed);
        return network;
    }

    /// <summary>Builds the preset called <paramref name="name"/> (see <see cref="Presets"/>) with its own loss and initialiser.</summary>
    /// <param name="name">The preset's name (case-insensitive): seed-cnn, seed-fc1, seed-fc2, lenet5.</param>
    /// <param name="input">Per-sample input shape, e.g. 1x28x28 for digits.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ArgumentException">There is no preset of that name; the message lists them.</exception>
    public static Network<T> FromPreset<T>(string name, Shape input, ulong seed = 1) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(name);
        var preset = Presets.Find(name)
            ?? throw new ArgumentException($"unknown preset '{name}'; expected one of: {string.Join(", ", Presets.All.Select(p => p.Name))}", nameof(name));
        return FromSpec<T>(preset.Spec, input, preset.Loss, preset.Init, seed);
    }

    /// <summary>Chains <paramref name="layers"/> (made in code, not yet built) from <paramref name="input"/> and initialises them.</summary>
    /// <param name="input">Per-sample input shape.</param>
    /// <param name="layers">The layers, input first.</param>
    /// <param name="loss"><c>ce</c> (softmax cross-entropy), <c>softmax-mse</c> or <c>mse</c>.</param>
    /// <param name="init">How the initial weights are drawn.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ModelSpecException">A layer does not fit its input; the message names the layer's position.</exception>
    public static Network<T> FromLayers<T>(Shape input, IEnumerable<Layer<T>> layers, string loss = DefaultLoss, InitScheme init = DefaultInit, ulong seed = 1)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(layers);
        var network = new Network<T>(input, layers, Losses.Losses.Create<T>(loss));
        Initialize(network, init, seed);
        return network;
    }

    /// <summary>Draws every parameter of <paramref name="network"/> afresh, layer by layer, from <paramref name="seed"/>.</summary>
    public static void Initialize<T>(Network<T> network, InitScheme init, ulong seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(network);
        Initializer.Apply(network.Layers, init, new Rng(seed));
    }
}
