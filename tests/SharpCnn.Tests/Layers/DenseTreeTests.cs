using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

/// <summary>
/// A dense layer's weight gradient in one process (the in-cache tree of Dense.WeightGradientTree, where a block that
/// pairs with the tile on top of the stack is multiplied straight onto it) is, bit for bit, BatchTree's definition:
/// per block of 16 samples the reference product (a sum from zero in sample order), the blocks combined by the
/// fixed pairwise tree, added to the zeroed gradient.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public sealed class DenseTreeTests
{
    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 1)]
    [InlineData(4, 2)]
    [InlineData(5, 1)]
    [InlineData(7, 2)]
    [InlineData(8, 1)]
    [InlineData(9, 1)]
    public void TheWeightGradientIsTheTreeOverBlocks(int blocks, int threads)
    {
        const int inputs = 100, outputs = 24;
        int n = blocks * BatchTree.BlockSize - 3; // a short last block
        var layer = new Dense<float>(outputs);
        layer.Build(Shape.Vector(inputs));
        layer.Reserve(n);
        var random = new Random(blocks);
        var x = new float[n * inputs];
        var dy = new float[n * outputs];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(random.NextDouble() * 2 - 1);
        using (new ThreadCountScope(threads))
            layer.Backward(x, new float[n * outputs], dy, [], n);

        var expected = ExpectedWeightGradient(x, dy, n, inputs, outputs);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(layer.Weight.Gradient.AsSpan())),
            $"{blocks} blocks, {threads} thread(s): the weight gradient is not the tree over the blocks");
    }

    /// <summary>
    /// A weight gradient marked uncleared (the training step's deferred clearing: it holds old values and counts as zero)
    /// is written, not added to: the same bits as the backward pass into a zeroed gradient, for one block (Gemm) and for
    /// several (GemmTree), on 1 to 3 threads; the mark is taken.
    /// </summary>
    [Theory]
    [InlineData(13, 1)]
    [InlineData(13, 2)]
    [InlineData(77, 1)]
    [InlineData(77, 2)]
    [InlineData(77, 3)]
    public void AnUnclearedWeightGradientIsWrittenWithTheZeroedOnesBits(int n, int threads)
    {
        const int inputs = 301, outputs = 40;
        var random = new Random(n + threads);
        var x = new float[n * inputs];
        var dy = new float[n * outputs];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(random.NextDouble() * 2 - 1);
        float[] Gradient(bool uncleared)
        {
            var layer = new Dense<float>(outputs);
            layer.Build(Shape.Vector(inputs));
            layer.Reserve(n);
            if (uncleared)
            {
                layer.Weight.Gradient.AsSpan().Fill(123.5f);
                layer.Weight.Uncleared = true;
            }
            using (new ThreadCountScope(threads))
                layer.Backward(x, new float[n * outputs], dy, new float[n * inputs], n);
            Assert.False(layer.Weight.Uncleared);
            return layer.Weight.Gradient;
        }
        var expected = Gradient(uncleared: false);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(Gradient(uncleared: true).AsSpan())),
            $"batch {n}, {threads} thread(s): the uncleared gradient was not written with the zeroed one's bits");
    }

    /// <summary>
    /// With ∂x wanted, its column ranges run in the same job as ∂W's (interleaved): on 1, 2 and 3 threads ∂W is still
    /// the tree over the blocks and ∂x = δ W is the reference product's bits, on a shape with a partial last tile.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TheInputGradientInTheSameJobIsTheReferenceProduct(int threads)
    {
        const int inputs = 301, outputs = 40, n = 77;
        var layer = new Dense<float>(outputs);
        layer.Build(Shape.Vector(inputs));
        layer.Reserve(n);
        var random = new Random(threads);
        for (int i = 0; i < layer.Weight.Length; i++) layer.Weight.Value[i] = (float)(random.NextDouble() * 2 - 1);
        var x = new float[n * inputs];
        var dy = new float[n * outputs];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(random.NextDouble() * 2 - 1);
        var dx = new float[n * inputs];
        using (new ThreadCountScope(threads))
            layer.Backward(x, new float[n * outputs], dy, dx, n);

        var expectedDx = new float[n * inputs];
        GemmReference.Multiply<float>(false, false, n, inputs, outputs, dy, outputs, layer.Weight.Value, inputs, expectedDx, inputs, accumulate: false);
        Assert.True(MemoryMarshal.AsBytes(expectedDx.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(dx.AsSpan())), $"{threads} thread(s): ∂x is not δ W");
        var expected = ExpectedWeightGradient(x, dy, n, inputs, outputs);
        Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(layer.Weight.Gradient.AsSpan())),
            $"{threads} thread(s): the weight gradient is not the tree over the blocks");
    }

    /// <summary>
    /// BatchTree's definition of a dense layer's weight gradient: per block of 16 samples the reference product (a sum
    /// from zero in sample order), the blocks combined by the fixed pairwise tree, added to a zeroed gradient.
    /// </summary>
    internal static float[] ExpectedWeightGradient(float[] x, float[] dy, int n, int inputs, int outputs)
    {
        int blocks = BatchTree.Blocks(n), length = outputs * inputs;
        var products = new float[blocks * length];
        for (int b = 0; b < blocks; b++)
        {
            int first = b * BatchTree.BlockSize, samples = Math.Min(n, first + BatchTree.BlockSize) - first;
            GemmReference.Multiply<float>(true, false, outputs, inputs, samples, dy.AsSpan(first * outputs), outputs, x.AsSpan(first * inputs), inputs,
                products.AsSpan(b * length, length), inputs, accumulate: false);
        }
        float[] Tree(int lo, int hi)
        {
            if (hi - lo == 1) return products.AsSpan(lo * length, length).ToArray();
            int p = BatchTree.SplitOf(hi - lo);
            float[] left = Tree(lo, lo + p), right = Tree(lo + p, hi);
            for (int i = 0; i < length; i++) left[i] += right[i];
            return left;
        }
        var expected = Tree(0, blocks);
        for (int i = 0; i < length; i++) expected[i] = 0f + expected[i];
        return expected;
    }
}
