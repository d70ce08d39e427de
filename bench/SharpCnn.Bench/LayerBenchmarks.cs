using BenchmarkDotNet.Attributes;
using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Optim;
using SharpCnn.Tensors;

namespace SharpCnn.Bench;

/// <summary>
/// The seed CNN's second convolution (5x5, 32 -> 64 maps on 14x14, 'same') over a batch of 64, forward and
/// backward (input and parameter gradients), on one thread and on all.
/// </summary>
[Config(typeof(KernelConfig))]
public class ConvolutionBenchmarks : IFlopCount
{
    private const int Batch = 64;
    private Conv2d<float> conv = null!;
    private float[] x = [], y = [], dy = [], dx = [];

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    public double Flops => 2.0 * conv.Weight.Length * conv.OutputShape.Height * conv.OutputShape.Width * Batch;

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.ThreadCount = Threads;
        conv = new Conv2d<float>(64, 5, 5, padding: Padding.Same);
        conv.Build(new Shape(32, 14, 14));
        conv.Reserve(Batch);
        var random = new Random(1);
        for (int i = 0; i < conv.Weight.Length; i++) conv.Weight.Value[i] = (float)random.NextDouble() - 0.5f;
        x = Enumerable.Range(0, Batch * conv.InputShape.Size).Select(_ => (float)random.NextDouble()).ToArray();
        y = new float[Batch * conv.OutputShape.Size];
        dy = y.Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        dx = new float[x.Length];
    }

    /// <summary>Forward: 1 x the flops.</summary>
    [Benchmark]
    public void Forward() => conv.Forward(x, y, Batch);

    /// <summary>Backward: 2 x the flops (input and weight gradients); the column reports flops of one forward.</summary>
    [Benchmark]
    public void Backward() => conv.Backward(x, y, dy, dx, Batch);
}

/// <summary>One Adam step over the seed CNN's largest parameter (dense1024's 3,211,264 weights): memory-bound.</summary>
public class AdamBenchmarks
{
    private Adam<float> adam = null!;

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.ThreadCount = Threads;
        var weight = new Parameter<float>("weight", [1024, 3136], ParameterRole.Weight);
        var random = new Random(1);
        for (int i = 0; i < weight.Length; i++) weight.Gradient[i] = (float)random.NextDouble() - 0.5f;
        adam = new Adam<float>([weight], 1e-3);
    }

    [Benchmark]
    public void Step() => adam.Step();
}
