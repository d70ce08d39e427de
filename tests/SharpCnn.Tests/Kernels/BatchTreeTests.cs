using SharpCnn.Kernels;
using SharpCnn.Tests.Training;
using SharpCnn.Training;

namespace SharpCnn.Tests.Kernels;

/// <summary>
/// The canonical batch sum (docs/DETERMINISM.md, "Batch reductions"): BatchTree's fixed pairwise tree over the
/// blocks, computed in place on several threads or completed from the subtrees of simulated ranks, is bit for bit
/// the plain recursive definition, on odd block counts and lengths that split unevenly over threads.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class BatchTreeTests
{
    /// <summary>The definition: tree(lo, hi) = block(lo) or tree(lo, lo + p) + tree(lo + p, hi), p the largest power of two below hi - lo.</summary>
    private static float Reference(float[] partials, int length, int lo, int hi, int e)
    {
        if (hi - lo == 1) return partials[lo * length + e];
        int p = 1;
        while (p * 2 < hi - lo) p *= 2;
        return Reference(partials, length, lo, lo + p, e) + Reference(partials, length, lo + p, hi, e);
    }

    private static float[] Partials(int blocks, int length, int seed)
    {
        var rng = new Random(seed);
        var partials = new float[blocks * length];
        // Values of very different sizes, so that any other order of additions rounds differently.
        for (int i = 0; i < partials.Length; i++) partials[i] = (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-20, 20)));
        return partials;
    }

    [Fact]
    public void TheSplitIsTheLargestPowerOfTwoBelow()
    {
        Assert.Equal([1, 2, 2, 4, 4, 4, 4, 8, 8, 16], new[] { 2, 3, 4, 5, 6, 7, 8, 9, 16, 17 }.Select(BatchTree.SplitOf));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 1)]
    [InlineData(5, 3)]
    [InlineData(7, 2)]
    [InlineData(11, 3)]
    [InlineData(13, 3)]
    public void TheTreeIsTheDefinitionOnAnyThreadCount(int blocks, int threads)
    {
        using var scope = new ThreadCountScope(threads);
        const int length = 40_003; // several element ranges on several threads, the last one shorter
        var partials = Partials(blocks, length, blocks);
        var expected = new float[length];
        for (int e = 0; e < length; e++) expected[e] = 0f + Reference(partials, length, 0, blocks, e);
        var actual = new float[length];
        BatchTree.Combine<float>(null, partials, length, blocks, actual);
        Assert.Equal(expected, actual);
    }

    [Theory]
    [InlineData(3, 2)]
    [InlineData(3, 3)]
    [InlineData(7, 3)]
    [InlineData(11, 2)]
    [InlineData(13, 5)]
    [InlineData(2, 3)] // fewer blocks than ranks: every rank computes the whole batch
    public void RanksCompleteTheSameTreeFromTheirSubtrees(int blocks, int ranks)
    {
        const int length = 1001;
        var partials = Partials(blocks, length, 100 + blocks);
        var expected = new float[length];
        for (int e = 0; e < length; e++) expected[e] = 0f + Reference(partials, length, 0, blocks, e);
        var group = new ThreadRanks(ranks);
        var results = group.Run(r =>
        {
            var share = new BatchShare(blocks * BatchTree.BlockSize - 3, group.Rank(r));
            Assert.Equal(blocks, share.TotalBlocks);
            var mine = partials.AsSpan(share.FirstBlock * length, share.LocalBlocks * length).ToArray();
            var sum = new float[length];
            BatchTree.Combine<float>(share, mine, length, share.LocalBlocks, sum);
            return sum;
        });
        foreach (var sum in results) Assert.Equal(expected, sum);
    }

    [Fact]
    public void RankSharesAreWholeBlocksInOrder()
    {
        var group = new ThreadRanks(3);
        // 48 samples = 3 blocks: one block each; 122 samples = 8 blocks (the last of 10): 2, 3 and 3 blocks.
        Assert.Equal(16, BatchTree.BlockSize);
        Assert.Equal([(0, 16), (16, 16), (32, 16)], group.Run(r => new BatchShare(48, group.Rank(r))).Select(s => (s.FirstSample, s.Count)));
        Assert.Equal([(0, 32), (32, 48), (80, 42)], group.Run(r => new BatchShare(122, group.Rank(r))).Select(s => (s.FirstSample, s.Count)));
        Assert.All(group.Run(r => new BatchShare(17, group.Rank(r))), s => Assert.True(!s.Split && s.FirstSample == 0 && s.Count == 17));
    }
}
