using SharpCnn.Kernels;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Optim;

/// <summary>
/// Optimizer.TakeStep cuts the updated parameters, seen as one run of values, into equal element ranges run on the
/// kernels' threads. Held here to the plain per-parameter loops (the decay, then ElementwiseKernels' references) over
/// whole parameters: the same bits on 1, 2 and 3 threads, with odd sizes whose ranges start and end inside parameters,
/// with and without weight decay, and with a fused parameter in the middle left out of the run.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class OptimizerRangeTests
{
    private static readonly int[] Sizes = [70_001, 37, 1, 50_003, 9, 33_333];

    private static Parameter<float>[] MakeParameters(int seed)
    {
        var rng = new Random(seed);
        var parameters = new Parameter<float>[Sizes.Length];
        for (int i = 0; i < Sizes.Length; i++)
        {
            parameters[i] = new Parameter<float>($"p{i}", [Sizes[i]], i % 2 == 0 ? ParameterRole.Weight : ParameterRole.Bias);
            for (int e = 0; e < Sizes[i]; e++) parameters[i].Value[e] = (float)(rng.NextDouble() * 2 - 1);
        }
        return parameters;
    }

    private static void FillGradients(Parameter<float>[] parameters, int seed)
    {
        var rng = new Random(seed);
        foreach (var p in parameters)
            for (int e = 0; e < p.Length; e++) p.Gradient[e] = (float)(rng.NextDouble() - 0.5) * (e % 7 == 0 ? 10f : 0.1f);
    }

    /// <summary>Three steps of the fast, ranged update on <paramref name="threads"/> threads; the values, then the state.</summary>
    private static float[][] Fast(string name, double decay, int threads, bool skipMiddle)
    {
        using var scope = new ThreadCountScope(threads);
        var parameters = MakeParameters(1);
        var optimizer = Optimizers.Create(name, parameters, 0.01, 0.9, decay);
        for (int step = 0; step < 3; step++)
        {
            FillGradients(parameters, 10 + step);
            parameters[3].Fused = skipMiddle;
            optimizer.TakeStep(skipFused: true);
            parameters[3].Fused = false;
        }
        return [.. parameters.Select(p => p.Value), .. optimizer.State];
    }

    /// <summary>The same three steps as plain loops over whole parameters.</summary>
    private static float[][] Reference(string name, double decay, bool skipMiddle)
    {
        var parameters = MakeParameters(1);
        var state = parameters.SelectMany(p => Enumerable.Range(0, Optimizers.StateArrays(name)).Select(_ => new float[p.Length])).ToArray(); // m, v per parameter for adam
        for (int step = 1; step <= 3; step++)
        {
            FillGradients(parameters, 10 + step - 1);
            double corr2 = Math.Sqrt(1 - Adam<double>.Power(0.999, step));
            float stepSize = (float)(0.01 * corr2 / (1 - Adam<double>.Power(0.9, step)));
            float epsilon = 1e-8f * (float)corr2;
            for (int i = 0; i < parameters.Length; i++)
            {
                if (skipMiddle && i == 3) continue;
                var p = parameters[i];
                bool decayed = decay != 0 && p.Role == ParameterRole.Weight;
                switch (name)
                {
                    case "sgd":
                        if (decayed) ElementwiseKernels.MultiplyAddReference<float>(p.Value, (float)decay, p.Gradient, p.Gradient);
                        ElementwiseKernels.MultiplyAddReference<float>(p.Gradient, -0.01f, p.Value, p.Value);
                        break;
                    case "momentum":
                        ElementwiseKernels.MomentumStepReference<float>(p.Value, p.Gradient, state[i], 0.9f, -0.01f, (float)decay, decayed);
                        break;
                    default:
                        if (decayed) ElementwiseKernels.MultiplyAddReference<float>(p.Value, (float)decay, p.Gradient, p.Gradient);
                        ElementwiseKernels.AdamReference<float>(p.Value, p.Gradient, state[2 * i], state[2 * i + 1], 0.9f, 0.999f, stepSize, epsilon);
                        break;
                }
            }
        }
        return [.. parameters.Select(p => p.Value), .. state];
    }

    [Theory]
    [InlineData("sgd", 0.0, false)]
    [InlineData("sgd", 5e-4, true)]
    [InlineData("momentum", 0.0, true)]
    [InlineData("momentum", 5e-4, false)]
    [InlineData("adam", 0.0, false)]
    [InlineData("adam", 5e-4, true)]
    public void RangesOnAnyThreadCountGiveThePlainLoopsBits(string name, double decay, bool skipMiddle)
    {
        var expected = Reference(name, decay, skipMiddle);
        foreach (int threads in new[] { 1, 2, 3 })
        {
            var actual = Fast(name, decay, threads, skipMiddle);
            Assert.Equal(expected.Length, actual.Length);
            for (int a = 0; a < expected.Length; a++)
                Assert.True(expected[a].AsSpan().SequenceEqual(actual[a]), $"{name}, decay {decay}, {threads} thread(s): array {a} differs from the plain loops");
        }
    }
}
