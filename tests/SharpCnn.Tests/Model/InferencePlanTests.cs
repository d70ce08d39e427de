using System.Runtime.InteropServices;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

/// <summary>
/// The fused inference plan (direct convolutions with bias, batch normalisation, ReLU and 2x2 max pooling in their epilogue, dense layers
/// with their ReLU, one sample through RowProduct) gives the layer-by-layer forward pass's bits on any thread count,
/// for any batch, when asked for them (Inference.SameBitsAsForward, and always in double), and allocates nothing once warm; with
/// Winograd (the default for float convolutions the fixed rule picks) it gives them too where the layer runs the same Winograd in
/// training (no connection table), stays close to them elsewhere, and gives one result for any thread count, batch and SIMD width
/// (CI reruns this class on each width).
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class InferencePlanTests
{
    public static TheoryData<string, int, int, int> Models => new()
    {
        { "conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10", 1, 28, 28 },
        { "conv3x3x5:s2:same,relu,maxpool2,conv2x3x7:p1,maxpool2,relu,conv1x1x3,relu,flatten,dense9,relu,dense4", 3, 17, 15 },
        { "conv3x3x17:valid,relu,relu,conv4x4x9:s3:same,maxpool2,flatten,relu,dense5", 2, 13, 13 },
        { "conv3x3x4,batchnorm,relu,maxpool2,dropout0.5,flatten,dense10", 1, 12, 12 },
        { "maxpool2,conv5x5x33:same,relu,maxpool2:pad,conv1x1x6,relu,dense7", 2, 11, 9 },
        { "conv5x5x20:same,batchnorm,relu,maxpool2,conv3x3x40:same,batchnorm,maxpool2,relu,flatten,dense12,relu,dense3", 3, 14, 14 },
        { "conv3x3x9,relu,batchnorm,conv3x3x5,batchnorm,batchnorm,flatten,dense2", 1, 9, 9 },
    };

    private static Network<float> Create(string spec, Shape shape)
    {
        var network = ModelFactory.FromSpec<float>(spec, shape, seed: 11);
        var rng = new Random(5);
        foreach (var layer in network.Layers)
            foreach (var p in layer.Parameters)
                for (int i = 0; i < p.Length; i++)
                    p.Value[i] = p.Name switch
                    {
                        "bias" or "beta" or "running_mean" => (float)(rng.NextDouble() - 0.5),
                        "gamma" or "running_var" => (float)(0.5 + rng.NextDouble()),
                        _ => p.Value[i],
                    };
        return network;
    }

    private static float[] Inputs(Shape shape, int n)
    {
        var rng = new Random(n);
        return Enumerable.Range(0, n * shape.Size).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
    }

    private static bool SameBits(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => MemoryMarshal.AsBytes(a).SequenceEqual(MemoryMarshal.AsBytes(b));

    [Theory]
    [MemberData(nameof(Models))]
    public void GivesTheLayerByLayerBitsOnAnyThreadCountAndBatch(string spec, int channels, int height, int width)
    {
        var shape = new Shape(channels, height, width);
        var network = Create(spec, shape);
        Assert.True(network.InferencePlan.Fuses);
        foreach (int n in new[] { 1, 3, 7 })
        {
            var x = Inputs(shape, n);
            float[] plain;
            using (var layerByLayer = new Inference<float>(network, n, everyActivation: true))
                plain = layerByLayer.Run(x).ToArray();
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var scope = new ThreadCountScope(threads);
                using var inference = new Inference<float>(network, n) { SameBitsAsForward = true };
                Assert.True(SameBits(plain, inference.Run(x)), $"batch {n}, {threads} thread(s)");
                // Each sample alone gives its bits in the batch.
                var one = inference.Run(x.AsSpan(0, shape.Size)).ToArray();
                Assert.True(SameBits(plain.AsSpan(0, network.Classes), one), $"first sample alone, {threads} thread(s)");
            }
        }
    }

    /// <summary>Models with convolutions the fixed rule runs by Winograd: fed by the input, by a direct stage and by a Winograd stage, feeding a direct stage, a Winograd stage and a dense layer; pooling an odd output; batch norm; odd shapes.</summary>
    public static TheoryData<string, int, int, int, int> WinogradModels => new()
    {
        { "conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10", 1, 28, 28, 1 },
        { "conv5x5x18:same,batchnorm,relu,conv5x5x9:p1-2-0-1,relu,maxpool2,conv3x3x5,flatten,dense6", 17, 13, 11, 2 },
        { "conv3x3x16,relu,conv5x5x17:same,maxpool2,relu,conv5x5x3:same,relu,flatten,dense4", 2, 15, 16, 2 },
        { "conv5x5x33:valid,batchnorm,maxpool2,relu,flatten,dense5", 16, 12, 9, 1 },
        { "conv3x3x16:same,batchnorm,relu,conv3x3x20:p1,relu,maxpool2,conv3x3x7:same,flatten,dense5", 3, 11, 13, 2 },
    };

    [Theory]
    [MemberData(nameof(WinogradModels))]
    public void WinogradGivesTheLayerByLayerBitsOnAnyThreadCountAndBatch(string spec, int channels, int height, int width, int stages)
    {
        var shape = new Shape(channels, height, width);
        var network = Create(spec, shape);
        Assert.Equal(stages, network.InferencePlan.WinogradStages);
        foreach (int n in new[] { 1, 3, 17 })
        {
            var x = Inputs(shape, n);
            float[] plain;
            using (var layerByLayer = new Inference<float>(network, n, everyActivation: true))
                plain = layerByLayer.Run(x).ToArray();
            float[]? first = null;
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var scope = new ThreadCountScope(threads);
                using var inference = new Inference<float>(network, n);
                var outputs = inference.Run(x).ToArray();
                first ??= outputs;
                Assert.True(SameBits(first, outputs), $"batch {n}: {threads} thread(s) differ from 1");
                // Each sample alone gives its bits in the batch.
                var one = inference.Run(x.AsSpan(0, shape.Size)).ToArray();
                Assert.True(SameBits(outputs.AsSpan(0, network.Classes), one), $"first sample alone, {threads} thread(s)");
            }
            // The layers run the same Winograd in their own forward passes (Conv2d.ForwardUsesWinograd), so the plan gives their bits.
            Assert.True(SameBits(plain, first!), $"batch {n}: the plan's Winograd differs from the layers' own");
        }
    }

    [Fact]
    public void WinogradGivesTheLayersBitsAndOnlyAConnectionTableConvolutionDiffersUnlessTheRunAsksForThem()
    {
        // conv5x5x20 with a connection table (input map c feeds output maps c .. c + 4): the layer keeps im2col + GEMM, the plan runs
        // Winograd by default (within the tolerance) and the direct kernel when asked for the layer-by-layer bits.
        string rows = string.Join(".", Enumerable.Range(0, 20).Select(o => new string(Enumerable.Range(0, 16).Select(c => (o - c + 20) % 20 < 5 ? '1' : '0').ToArray())));
        var shape = new Shape(3, 12, 11);
        var network = Create($"conv3x3x16:same,relu,conv5x5x20:same:table={rows},relu,maxpool2,conv3x3x18:same,flatten,dense5", shape);
        Assert.Equal(2, network.InferencePlan.WinogradStages);
        var tabled = network.Layers.OfType<SharpCnn.Layers.Conv2d<float>>().ToArray();
        Assert.False(tabled[1].ForwardUsesWinograd);
        Assert.True(tabled[2].ForwardUsesWinograd);
        foreach (int n in new[] { 1, 4 })
        {
            var x = Inputs(shape, n);
            float[] plain;
            using (var layerByLayer = new Inference<float>(network, n, everyActivation: true))
                plain = layerByLayer.Run(x).ToArray();
            foreach (int threads in new[] { 1, 2, 3 })
            {
                using var scope = new ThreadCountScope(threads);
                using (var exact = new Inference<float>(network, n) { SameBitsAsForward = true })
                    Assert.True(SameBits(plain, exact.Run(x)), $"batch {n}, {threads} thread(s): SameBitsAsForward differs from the layers");
                using var fast = new Inference<float>(network, n);
                var outputs = fast.Run(x).ToArray();
                Assert.False(SameBits(plain, outputs), "the tabled convolution should run Winograd by default");
                float largest = plain.Max(Math.Abs);
                for (int i = 0; i < plain.Length; i++)
                    Assert.True(Math.Abs(plain[i] - outputs[i]) <= 1e-4f * (1 + largest), $"batch {n}, output {i}: {outputs[i]} vs layer by layer {plain[i]}");
            }
        }
    }

    /// <summary>XxHash64 of <see cref="WinogradGivesOneCommittedHashOnEveryWidth"/>'s outputs: ONE figure for Vector512, Vector256, Vector128 and scalar.</summary>
    private const ulong WinogradOutputsHash = 0x0c8058ad1109f09d;

    [Fact]
    public void WinogradGivesOneCommittedHashOnEveryWidth()
    {
        // Three Winograd models (5x5 and 3x3), batch 5: the outputs' bits hashed; CI reruns this class under each narrower width.
        var hash = new System.IO.Hashing.XxHash64();
        foreach (var (spec, shape) in new[]
        {
            ("conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10", new Shape(1, 28, 28)),
            ("conv5x5x18:same,batchnorm,relu,conv5x5x9:p1-2-0-1,relu,maxpool2,conv3x3x5,flatten,dense6", new Shape(17, 13, 11)),
            ("conv3x3x16:same,batchnorm,relu,conv3x3x20:p1,relu,maxpool2,conv3x3x7:same,flatten,dense5", new Shape(3, 11, 13)),
        })
        {
            var network = Create(spec, shape);
            using var inference = new Inference<float>(network, 5);
            hash.Append(MemoryMarshal.AsBytes(inference.Run(Inputs(shape, 5))));
        }
        ulong value = hash.GetCurrentHashAsUInt64();
        TestContext.Current.TestOutputHelper?.WriteLine($"{SharpCnn.Kernels.PeakFlops.VectorName}: {value:x16}");
        Assert.Equal(WinogradOutputsHash.ToString("x16"), value.ToString("x16"));
    }

    [Fact]
    public void WinogradFollowsTheWeightsWhenTheyChange()
    {
        var shape = new Shape(1, 10, 10);
        var network = Create("conv3x3x16:same,relu,maxpool2,conv5x5x4:same,relu,flatten,dense3", shape);
        Assert.Equal(1, network.InferencePlan.WinogradStages);
        var x = Inputs(shape, 2);
        using var inference = new Inference<float>(network, 2);
        var before = inference.Run(x).ToArray();
        var conv = network.Layers[3].Parameters[0].Value;
        for (int i = 0; i < conv.Length; i++) conv[i] *= -1.5f;
        var after = inference.Run(x).ToArray();
        Assert.False(SameBits(before, after));
        using var layerByLayer = new Inference<float>(network, 2, everyActivation: true);
        var plain = layerByLayer.Run(x).ToArray();
        for (int i = 0; i < plain.Length; i++) Assert.True(Math.Abs(plain[i] - after[i]) <= 1e-4f * (1 + Math.Abs(plain[i])), $"output {i}: {after[i]} vs {plain[i]}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void GivesTheLayerByLayerBitsInDouble(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        var shape = new Shape(2, 12, 11);
        var network = ModelFactory.FromSpec<double>("conv3x3x10:same,batchnorm,relu,maxpool2,conv5x5x19:same,relu,maxpool2,flatten,dense40,relu,dense3", shape, seed: 3);
        Assert.Equal(0, network.InferencePlan.WinogradStages); // double keeps the direct kernels
        foreach (int n in new[] { 1, 5 })
        {
            var rng = new Random(n);
            var x = Enumerable.Range(0, n * shape.Size).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
            double[] plain;
            using (var layerByLayer = new Inference<double>(network, n, everyActivation: true))
                plain = layerByLayer.Run(x).ToArray();
            using var inference = new Inference<double>(network, n);
            Assert.True(MemoryMarshal.AsBytes(plain.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(inference.Run(x))), $"batch {n}");
        }
    }

    [Fact]
    public void FollowsTheWeightsWhenTheyChange()
    {
        var shape = new Shape(1, 10, 10);
        var network = Create("conv3x3x8:same,relu,maxpool2,conv3x3x4:same,relu,flatten,dense3", shape);
        var x = Inputs(shape, 2);
        using var inference = new Inference<float>(network, 2);
        var before = inference.Run(x).ToArray();
        var conv = network.Layers[3].Parameters[0].Value;
        for (int i = 0; i < conv.Length; i++) conv[i] *= -1.5f;
        var after = inference.Run(x).ToArray();
        Assert.False(SameBits(before, after));
        using (var layerByLayer = new Inference<float>(network, 2, everyActivation: true))
            Assert.True(SameBits(layerByLayer.Run(x), after));
        // A dense layer's packed copy (one-sample runs) is made again for each new Inference.
        var one = x.AsSpan(0, shape.Size).ToArray();
        float[] first = inference.Run(one).ToArray();
        var dense = network.Layers[^1].Parameters[0].Value;
        for (int i = 0; i < dense.Length; i++) dense[i] *= 0.5f;
        using var next = new Inference<float>(network, 2);
        var changed = next.Run(one).ToArray();
        Assert.False(SameBits(first, changed));
        using var plain = new Inference<float>(network, 1, everyActivation: true);
        Assert.True(SameBits(plain.Run(one), changed));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void AllocatesNothingOnceWarm(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        var shape = new Shape(1, 28, 28);
        var network = Create("conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,flatten,dense1024,relu,dense10", shape);
        using var inference = new Inference<float>(network, 16);
        foreach (int n in new[] { 16, 1 })
        {
            var x = Inputs(shape, n);
            for (int i = 0; i < 3; i++) inference.Run(x);
            long fewest = long.MaxValue;
            for (int round = 0; round < 3; round++)
            {
                long before = GC.GetTotalAllocatedBytes(precise: true);
                for (int i = 0; i < 5; i++) inference.Run(x);
                fewest = Math.Min(fewest, GC.GetTotalAllocatedBytes(precise: true) - before);
            }
            Assert.Equal(0, fewest);
        }
    }
}
