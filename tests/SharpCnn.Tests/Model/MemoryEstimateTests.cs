using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

/// <summary>The memory budget: a network sized before anything is allocated, exactly, without overflow, and refused when it cannot fit.</summary>
public sealed class MemoryEstimateTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-memory-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void ASmallNetworkIsSizedToTheByte()
    {
        // conv3x3x2 on 1x8x8 -> 2x6x6, relu, maxpool2 -> 2x3x3, flatten -> 18, dense10; batches of 4, Adam, 2 threads, float.
        var estimate = MemoryEstimate.ForSpec<float>(ModelSpec.Parse("conv3x3x2,relu,maxpool2,flatten,dense10"), new Shape(1, 8, 8), batch: 4, "adam", threads: 2);
        const long parameters = 2 * 4 * (20 + 190); // conv 18 + 2, dense 180 + 10: values and gradients
        const long adam = 2 * 4 * (20 + 190); // two moments per trained value
        // For 4 samples: the input and its gradient, each output, and the two buffers the output gradients take turns
        // in: g5 (the loss's, 10) and g3 (18) in one, g4 (18) and g1 (72) in the other; the max pooling takes over the
        // ReLU's backward pass, so g2 is never written.
        const long activations = 4 * 4 * (2 * 64 + (72 + 72 + 18 + 18 + 10) + 18 + 72);
        const long poolIndices = 4 * 4 * 18; // int arg-max per output of the batch
        const long columns = 4 * (2 * 9 * 36 + 64 + 2 * 64); // per thread: column matrix, its gradient, padded input, im2col slack
        Assert.Equal(parameters, estimate.ParameterBytes);
        Assert.Equal(adam, estimate.OptimizerBytes);
        Assert.Equal(activations, estimate.ActivationBytes);
        Assert.Equal(poolIndices + 2 * columns, estimate.WorkspaceBytes);
        Assert.Equal(parameters + adam + activations + poolIndices + 2 * columns, estimate.TotalBytes);
        Assert.Equal(5, estimate.Layers.Count);
        Assert.Equal("dense10", estimate.Largest!.Token); // 3040 bytes of parameters and moments

        // The same figures from a network that really is built (its parameters allocated).
        var built = ModelSpec.Parse("conv3x3x2,relu,maxpool2,flatten,dense10").Build<float>(new Shape(1, 8, 8));
        var again = MemoryEstimate.ForNetwork(built, 4, "adam", threads: 2);
        Assert.Equal(estimate.TotalBytes, again.TotalBytes);
        Assert.Equal(estimate.Layers, again.Layers);
        Assert.Equal(0, MemoryEstimate.ForSpec<float>(ModelSpec.Parse("flatten,dense10"), new Shape(1, 8, 8), 4, "sgd").OptimizerBytes);
    }

    [Fact]
    public void AHugeSpecIsSizedWithoutAllocatingIt()
    {
        // The model: 786,600,010 parameters and 78,400,000 values per sample after the convolution.
        long before = GC.GetAllocatedBytesForCurrentThread();
        var estimate = MemoryEstimate.ForSpec<float>(ModelSpec.Parse("conv5x5x100000:same,relu,dense10"), new Shape(1, 28, 28), batch: 256, "adam");
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"sizing allocated {allocated} bytes");
        Assert.Equal(2L * 4 * 786_600_010, estimate.ParameterBytes);
        Assert.Equal(1, estimate.Largest!.Position);
        Assert.True(estimate.TotalBytes > 300L << 30, $"{estimate.TotalBytes}");

        // 784,000 inputs x 1,000,000 outputs: more than an array holds, still a number (11 TiB), not an overflow.
        var dense = MemoryEstimate.ForSpec<double>(ModelSpec.Parse("conv5x5x1000:same,flatten,dense1000000,dense10"), new Shape(1, 28, 28), batch: 1_000_000, "momentum");
        Assert.Equal("dense1000000", dense.Largest!.Token);
        Assert.True(dense.ParameterBytes > 2L * 8 * 784_000_000_000L, $"{dense.ParameterBytes}");
        Assert.Equal(long.MaxValue, MemoryMath.Multiply(long.MaxValue / 2, 3));
        Assert.Equal(long.MaxValue, MemoryMath.Add(long.MaxValue - 1, 2));
    }

    [Fact]
    public void WhatDoesNotFitIsRefusedNamingTheLargestLayerAndBothFigures()
    {
        var estimate = MemoryEstimate.ForSpec<float>(ModelSpec.Parse("conv5x5x8:same,relu,flatten,dense10"), new Shape(1, 28, 28), batch: 64, "adam");
        estimate.EnsureFits(estimate.TotalBytes, "a limit that is just enough");
        var e = Assert.Throws<MemoryBudgetException>(() => estimate.EnsureFits(estimate.TotalBytes - 1, "the test's limit"));
        Assert.Equal(1, estimate.Largest!.Position); // 64 x 8x28x28 outputs (1.6 MB) outweigh dense10's 62,730 parameters with gradients and moments (1.0 MB)
        Assert.Contains($"the largest is layer 1 'conv5x5x8:same' (1x28x28 -> 8x28x28), {MemoryMath.Format(estimate.Largest.Bytes)}", e.Message);
        Assert.Contains($"but {MemoryMath.Format(estimate.TotalBytes - 1)} is available (the test's limit)", e.Message);
        Assert.DoesNotContain("--", e.Message); // a library message names no CLI flag
        Assert.Equal(estimate.TotalBytes - 1, e.AvailableBytes);
        // What already exists (the parameters of a built network) is not asked for again.
        estimate.EnsureFits(estimate.TotalBytes - estimate.ParameterBytes, "the room left", allocated: estimate.ParameterBytes);
    }

    [Fact]
    public void ModelFactoryRefusesANetworkThatCannotFitBeforeAllocatingIt()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<MemoryBudgetException>(() => ModelFactory.FromSpec<float>("conv5x5x1000:same,flatten,dense1000000,dense10", new Shape(1, 28, 28)));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
        Assert.Contains("'dense1000000'", e.Message);
    }

    [Fact]
    public void ABatchTooLargeForAnArrayIsRefusedNotOverflowed()
    {
        var network = ModelFactory.FromSpec<float>("conv5x5x1000:same,relu,flatten,dense10", new Shape(1, 28, 28));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => network.Reserve(10_000)); // 10,000 x 784,000 values
        Assert.Contains("more values than an array holds", e.Message);
    }

    [Fact]
    public void TheAvailableMemoryIsTheLeastOfTheControlGroupsMemAvailableAndTheRuntime()
    {
        // cgroup v1: the process's group allows 1,000,000 bytes and uses 400,000; its parent has no limit.
        string proc = Directory.CreateDirectory(Path.Combine(dir, "proc", "self")).Parent!.FullName, cgroup = Path.Combine(dir, "cgroup");
        File.WriteAllText(Path.Combine(proc, "self", "cgroup"), "5:cpu:/\n4:memory:/a/b\n0::/\n");
        File.WriteAllText(Path.Combine(proc, "meminfo"), "MemTotal:       24683880 kB\nMemAvailable:   22000000 kB\n");
        string group = Directory.CreateDirectory(Path.Combine(cgroup, "memory", "a", "b")).FullName;
        File.WriteAllText(Path.Combine(group, "memory.limit_in_bytes"), "1000000\n");
        File.WriteAllText(Path.Combine(group, "memory.usage_in_bytes"), "400000\n");
        File.WriteAllText(Path.Combine(cgroup, "memory", "a", "memory.limit_in_bytes"), "9223372036854771712\n");
        var (bytes, source) = AvailableMemory.Measure(proc, cgroup);
        Assert.Equal(600_000, bytes);
        Assert.Contains("control group", source);
        Assert.Contains("/a/b", source);

        // cgroup v2: no limit on the process's group ("max"), 2,000,000 on the root of which 500,000 are used.
        File.WriteAllText(Path.Combine(proc, "self", "cgroup"), "0::/x\n");
        Directory.CreateDirectory(Path.Combine(cgroup, "x"));
        File.WriteAllText(Path.Combine(cgroup, "x", "memory.max"), "max\n");
        File.WriteAllText(Path.Combine(cgroup, "memory.max"), "2000000\n");
        File.WriteAllText(Path.Combine(cgroup, "memory.current"), "500000\n");
        Assert.Equal(1_500_000, AvailableMemory.Measure(proc, cgroup).Bytes);

        // No control group limit: MemAvailable, when it is the least.
        File.WriteAllText(Path.Combine(proc, "self", "cgroup"), "0::/\n");
        File.Delete(Path.Combine(cgroup, "memory.max"));
        File.WriteAllText(Path.Combine(proc, "meminfo"), "MemAvailable:        100 kB\n");
        Assert.Equal((102_400L, "MemAvailable in /proc/meminfo"), AvailableMemory.Measure(proc, cgroup));

        // Nothing readable: the runtime's own figure, which is positive.
        var runtime = AvailableMemory.Measure(Path.Combine(dir, "none"), Path.Combine(dir, "none"));
        Assert.True(runtime.Bytes > 0);
        Assert.Equal("the .NET runtime's limit", runtime.Source);
    }
}
