using System.Runtime.InteropServices;
using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;
using SharpCnn.Tests.Training;
using SharpCnn.Training;

namespace SharpCnn.Tests.Layers;

/// <summary>
/// A dense layer's weight gradient with the batch shared by simulated ranks (ThreadRanks): each rank computes its
/// subtrees of BatchTree's tree by GemmTree straight into the exchange, several blocks each (9 blocks on 2 ranks are
/// the subtrees [0, 4) on rank 0 and [4, 8) + [8, 9) on rank 1), and every rank ends with BatchTree's definition bit
/// for bit: per block of 16 samples the reference product, the blocks combined by the fixed pairwise tree, added to
/// the zeroed gradient. (Training.SharedBatchTrainingTests has one block per subtree.)
/// </summary>
public sealed class DenseSharedTreeTests
{
    [Theory]
    [InlineData(9, 2)]
    [InlineData(8, 3)]
    [InlineData(7, 2)]
    [InlineData(13, 3)]
    public void EveryRankEndsWithTheTree(int blocks, int ranks)
    {
        const int inputs = 70, outputs = 13;
        int n = blocks * BatchTree.BlockSize - 5; // a short last block
        var random = new Random(blocks * 10 + ranks);
        var x = new float[n * inputs];
        var dy = new float[n * outputs];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        for (int i = 0; i < dy.Length; i++) dy[i] = (float)(random.NextDouble() * 2 - 1);

        var group = new ThreadRanks(ranks);
        var gradients = group.Run(r =>
        {
            var layer = new Dense<float>(outputs);
            layer.Build(Shape.Vector(inputs));
            layer.Reserve(n);
            var share = new BatchShare(n, group.Rank(r));
            Assert.True(share.Split);
            Assert.Contains(share.OwnNodes, node => node.Hi - node.Lo > 1);
            layer.Share = share;
            int first = share.FirstSample, count = share.Count;
            layer.Backward(x.AsSpan(first * inputs, count * inputs), new float[count * outputs], dy.AsSpan(first * outputs, count * outputs), [], count);
            share.FinishPending();
            return layer.Weight.Gradient.ToArray();
        });

        int length = outputs * inputs;
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
        for (int r = 0; r < ranks; r++)
            Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(gradients[r].AsSpan())),
                $"{blocks} blocks on {ranks} ranks: rank {r}'s weight gradient is not the tree over the blocks");
    }
}
