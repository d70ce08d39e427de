using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

/// <summary>The one inference loop: evaluation mode while it lasts, every sample once in order, the outputs a plain forward gives.</summary>
public sealed class InferenceTests
{
    private const string Spec = "conv3x3x4,batchnorm,relu,maxpool2,dropout0.5,flatten,dense10";

    private static readonly ImageDataSet Test = BundledDigits.Load().Test.Take(70);

    private static Network<float> Network() => ModelFactory.FromSpec<float>(Spec, Test.Shape, seed: 4);

    /// <summary>The outputs of samples first .. first + n - 1, by the network's own forward pass in evaluation mode.</summary>
    private static float[] Plain(Network<float> network, int first, int n)
    {
        network.Training = false;
        var x = new float[n * Test.Shape.Size];
        Test.CopyBatch<float>(Enumerable.Range(first, n).ToArray(), x, new int[n]);
        var y = network.Forward(x, n).ToArray();
        network.Training = true;
        return y;
    }

    private static bool SameBits(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => MemoryMarshal.AsBytes(a).SequenceEqual(MemoryMarshal.AsBytes(b));

    [Fact]
    public void BatchesCoverEverySampleOnceInOrderWithItsLabelAndPlainOutputs()
    {
        var network = Network();
        var reference = Network();
        var seen = new List<int>();
        using (var inference = new Inference<float>(network, batchSize: 32))
        {
            Assert.False(network.Training);
            foreach (var batch in inference.Batches(Test))
            {
                Assert.Equal(seen.Count, batch.First);
                Assert.Equal(Math.Min(32, Test.Count - batch.First), batch.Count);
                Assert.Equal(10, batch.Classes);
                Assert.True(SameBits(Plain(reference, batch.First, batch.Count), batch.Outputs));
                Assert.True(SameBits(batch.Outputs.Slice(3 * 10, 10), batch.Output(3)));
                for (int i = 0; i < batch.Count; i++) Assert.Equal(Test.Label(batch.First + i), batch.Labels[i]);
                seen.AddRange(Enumerable.Range(batch.First, batch.Count));
            }
        }
        Assert.Equal(Enumerable.Range(0, Test.Count), seen);
        Assert.True(network.Training); // the mode it had
    }

    [Fact]
    public void ValuesRunLikeTheDataTheyCameFromButWithoutLabels()
    {
        var network = Network();
        var x = new float[Test.Count * Test.Shape.Size];
        Test.CopyBatch<float>(Enumerable.Range(0, Test.Count).ToArray(), x, new int[Test.Count]);
        using var inference = new Inference<float>(network, batchSize: 25);
        var all = new float[Test.Count * 10];
        int batches = 0;
        foreach (var batch in inference.Batches(x))
        {
            Assert.True(batch.Labels.IsEmpty);
            batch.Outputs.CopyTo(all.AsSpan(batch.First * 10));
            batches++;
        }
        Assert.Equal(3, batches);
        var fromData = new float[Test.Count * 10];
        foreach (var batch in inference.Batches(Test)) batch.Outputs.CopyTo(fromData.AsSpan(batch.First * 10));
        Assert.True(SameBits(fromData, all));
        Assert.True(SameBits(fromData.AsSpan(7 * 10, 2 * 10), inference.Run(x.AsSpan(7 * 784, 2 * 784))));
        Assert.True(inference.Labels.IsEmpty);
        Assert.True(SameBits(fromData.AsSpan(7 * 10, 10), inference.Run(Test, [7])));
        Assert.Equal([Test.Label(7)], inference.Labels.ToArray());
    }

    [Fact]
    public void EvaluationModeLastsUntilDisposedEvenWhenTheLoopThrows()
    {
        var network = Network();
        network.Training = false;
        using (new Inference<float>(network)) Assert.False(network.Training);
        Assert.False(network.Training); // it was in evaluation mode before

        network.Training = true;
        var inference = new Inference<float>(network, 8);
        Assert.Throws<InvalidOperationException>(() =>
        {
            using (inference)
            {
                foreach (var batch in inference.Batches(Test)) throw new InvalidOperationException("stop");
            }
        });
        Assert.True(network.Training);
        Assert.Throws<ObjectDisposedException>(() => inference.Run(Test, [0]));
    }

    [Fact]
    public void BadInputsAreRefusedWithAReason()
    {
        var network = Network();
        using var inference = new Inference<float>(network);
        Assert.Contains("the network takes 1x28x28 = 784 values per sample, got 100 values", Assert.Throws<ArgumentException>(() => inference.Run(new float[100])).Message);
        Assert.Contains("got 0 values", Assert.Throws<ArgumentException>(() => inference.Run(ReadOnlySpan<float>.Empty)).Message);
        Assert.Contains("at least one sample", Assert.Throws<ArgumentException>(() => inference.Run(Test, [])).Message);
        var small = new ImageDataSet(new byte[2 * 36], new byte[2], 6, 6);
        Assert.Contains("the data's samples are 1x6x6, the network takes 1x28x28", Assert.Throws<ArgumentException>(() => inference.Batches(small)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Inference<float>(network, 0));
    }

    [Fact]
    public void ARunAllocatesNothingOnceTheBuffersHaveGrown()
    {
        var network = Network();
        using var inference = new Inference<float>(network, 16);
        int[] indices = [.. Enumerable.Range(0, 16)];
        foreach (var batch in inference.Batches(Test)) { }
        inference.Run(Test, indices);
        long fewest = long.MaxValue;
        for (int round = 0; round < 3 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) inference.Run(Test, indices);
            foreach (var batch in inference.Batches(Test)) { }
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }
}
