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

        var expected = DenseTreeTests.ExpectedWeightGradient(x, dy, n, inputs, outputs);
        for (int r = 0; r < ranks; r++)
            Assert.True(MemoryMarshal.AsBytes(expected.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(gradients[r].AsSpan())),
                $"{blocks} blocks on {ranks} ranks: rank {r}'s weight gradient is not the tree over the blocks");
    }
}
