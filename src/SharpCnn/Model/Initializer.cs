using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>How the initial weights are drawn.</summary>
public enum InitScheme
{
    /// <summary>Every weight and bias uniform in [0, 1): the seeds' MATLAB rand(). Explodes in deep nets (seed 000).</summary>
    Uniform,

    /// <summary>Weights normal with mean 0 and standard deviation 0.1, biases 0.1: the seeds' fix.</summary>
    Normal,

    /// <summary>Xavier/Glorot uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)); biases 0.</summary>
    Xavier,

    /// <summary>He/Kaiming normal: N(0, 2 / fan_in), for ReLU nets; biases 0.</summary>
    He,

    /// <summary>LeCun normal: N(0, 1 / fan_in), for tanh/sigmoid nets; biases 0.</summary>
    LeCun,
}

/// <summary>Fills parameters with initial values, reproducibly from a seed.</summary>
public static class Initializer
{
    /// <summary>The CLI names of the schemes.</summary>
    public static IReadOnlyList<string> Names { get; } = ["uniform", "normal", "xavier", "he", "lecun"];

    /// <summary>Parses a scheme name (case-insensitive; <c>rand</c> and <c>glorot</c> are accepted too).</summary>
    public static InitScheme Parse(string name) => name.ToLowerInvariant() switch
    {
        "uniform" or "rand" => InitScheme.Uniform,
        "normal" => InitScheme.Normal,
        "xavier" or "glorot" => InitScheme.Xavier,
        "he" or "kaiming" => InitScheme.He,
        "lecun" => InitScheme.LeCun,
        _ => throw new ArgumentException($"unknown initialiser '{name}'; expected one of: {string.Join(", ", Names)}"),
    };

    /// <summary>The CLI name of a scheme.</summary>
    public static string Name(InitScheme scheme) => Names[(int)scheme];

    /// <summary>Initialises every parameter of <paramref name="layers"/> in order, drawing from <paramref name="rng"/>.</summary>
    public static void Apply<T>(IEnumerable<Layer<T>> layers, InitScheme scheme, Rng rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        foreach (var layer in layers)
            foreach (var p in layer.Parameters)
                Fill(p, scheme, rng);
    }

    /// <summary>
    /// Initialises one parameter. A parameter with an <see cref="Parameter{T}.InitialValue"/> (and any
    /// <see cref="ParameterRole.State"/> one, 0 by default) is set to that constant, whatever the scheme.
    /// </summary>
    public static void Fill<T>(Parameter<T> p, InitScheme scheme, Rng rng) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> v = p.Value;
        bool bias = p.Role == ParameterRole.Bias;
        if (p.InitialValue is { } constant || p.Role == ParameterRole.State)
        {
            // Fixed starting points (batch norm's γ = 1, β = 0, running mean 0, variance 1) whatever the scheme.
            v.Fill(T.CreateChecked(p.InitialValue ?? 0));
            Array.Clear(p.Gradient);
            return;
        }
        switch (scheme)
        {
            case InitScheme.Uniform:
                for (int i = 0; i < v.Length; i++) v[i] = T.CreateChecked(rng.NextDouble());
                break;
            case InitScheme.Normal:
                if (bias) v.Fill(T.CreateChecked(0.1));
                else for (int i = 0; i < v.Length; i++) v[i] = T.CreateChecked(0.1 * rng.NextNormal());
                break;
            case InitScheme.Xavier:
                if (bias) v.Clear();
                else
                {
                    double a = Math.Sqrt(6.0 / (p.FanIn + p.FanOut));
                    for (int i = 0; i < v.Length; i++) v[i] = T.CreateChecked(a * (2 * rng.NextDouble() - 1));
                }
                break;
            case InitScheme.He:
            case InitScheme.LeCun:
                if (bias) v.Clear();
                else
                {
                    double std = Math.Sqrt((scheme == InitScheme.He ? 2.0 : 1.0) / p.FanIn);
                    for (int i = 0; i < v.Length; i++) v[i] = T.CreateChecked(std * rng.NextNormal());
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(scheme), scheme, null);
        }
        p.ApplyMask();
        Array.Clear(p.Gradient);
    }
}
