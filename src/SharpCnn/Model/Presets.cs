namespace SharpCnn.Model;

/// <summary>A named model: its spec, its default loss and initialiser, and where it comes from.</summary>
/// <param name="Name">The preset's name (what <c>--model</c> takes).</param>
/// <param name="Spec">The layer spec.</param>
/// <param name="Loss">Default loss.</param>
/// <param name="Init">Default initialiser.</param>
/// <param name="Description">One line on where it comes from.</param>
public sealed record Preset(string Name, string Spec, string Loss, InitScheme Init, string Description);

/// <summary>The built-in models: the seeds' networks and LeNet-5.</summary>
public static class Presets
{
    /// <summary>Every preset, by name.</summary>
    public static IReadOnlyList<Preset> All { get; } =
    [
        new("seed-cnn",
            "conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10",
            "ce", InitScheme.Normal,
            "seed 000 Table 3: conv5x5x32-relu-maxpool-conv5x5x64-relu-maxpool-fc1024-fc10, softmax-cross-entropy, N(0,0.1) init with bias 0.1"),
        new("seed-fc1",
            "flatten,dense10",
            "softmax-mse", InitScheme.Uniform,
            "seed 000 Table 1: one fully connected layer 784->10, softmax + squared error, rand() init"),
        new("seed-fc2",
            "flatten,dense300,sigmoid,dense10,minusmax",
            "ce", InitScheme.Normal,
            "seed 000 Table 2 (sigmoid / -max row): two fully connected layers, 300 hidden units (the seed does not say how many)"),
        new("lenet5",
            "conv5x5x6:same,tanh,subsample2,tanh,conv5x5x16:table=lenet5,tanh,subsample2,tanh,conv5x5x120,tanh,dense84,tanh,dense10",
            "ce", InitScheme.LeCun,
            "LeNet-5 (LeCun et al. 1998, seed 002): C3's connection table and trainable subsampling; 28x28 input padded 'same' in C1 instead of a 32x32 image"),
    ];

    /// <summary>The preset called <paramref name="name"/>, or null.</summary>
    public static Preset? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));
}
