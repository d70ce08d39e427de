using BenchmarkDotNet.Attributes;
using SharpCnn.Kernels;

namespace SharpCnn.Bench;

/// <summary>Gemm on the shapes the seed CNN runs (single thread).</summary>
[Config(typeof(KernelConfig))]
public class GemmBenchmarks : IFlopCount
{
    /// <summary>Shapes "m x n x k tA tB": conv forward, weight gradient, input gradient, dense.</summary>
    public static string[] Shapes { get; } =
    [
        "64x12544x800 NN",   // conv2 forward over a batch of 64 (the conv-like shape)
        "64x196x800 NN",     // conv2 forward, one sample
        "64x800x196 NT",     // conv2 weight gradient, one sample
        "800x196x64 TN",     // conv2 column gradient, one sample
        "64x1024x3136 NT",   // dense1024 forward, batch 64
        "1024x3136x64 TN",   // dense1024 weight gradient
        "64x3136x1024 NN",   // dense1024 input gradient
    ];

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = Shapes[0];

    private float[] a = [], b = [], c = [];
    private int m, n, k;
    private bool transA, transB;

    public double Flops => 2.0 * m * n * k;

    [GlobalSetup]
    public void Setup()
    {
        var parts = Shape.Split(' ');
        var dims = parts[0].Split('x').Select(int.Parse).ToArray();
        (m, n, k) = (dims[0], dims[1], dims[2]);
        transA = parts[1][0] == 'T';
        transB = parts[1][1] == 'T';
        var random = new Random(1);
        a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble()).ToArray();
        b = Enumerable.Range(0, k * n).Select(_ => (float)random.NextDouble()).ToArray();
        c = new float[m * n];
    }

    [Benchmark]
    public void Multiply() =>
        Gemm.Multiply<float>(transA, transB, m, n, k, a, transA ? m : k, b, transB ? k : n, c, n, accumulate: false);
}
