using System.IO.Hashing;
using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Training;

/// <summary>
/// The core proof of data-parallel training (docs/DETERMINISM.md, "More than one process"): N ranks that each
/// compute their share of every batch and exchange their subtrees end with exactly the weights of one process
/// training on whole batches, for N = 1, 2, 3. The ranks are simulated in this process, one thread each, with an
/// all-gather between threads in place of MPI's (<see cref="ThreadRanks"/>). Batches of 48 (three blocks of 16: one
/// per rank for N = 3) over 221 samples, so each epoch ends with a batch of 29 (two blocks: fewer than three ranks,
/// which then each compute the whole batch). The second model has everything whose sums or random draws depend on
/// the sample's place in the batch: batch norm (statistics and backward sums), dropout, random crops and flips.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class SharedBatchTrainingTests
{
    private const string Tiny = "conv3x3x4,relu,maxpool2,flatten,dense16,relu,dense10";

    private const string Full =
        "randcrop2,randflip,conv3x3x4:same,batchnorm,relu,maxpool2,dropout0.2,conv3x3x6,batchnorm,relu,maxpool2,flatten,dense16,batchnorm,relu,dropout0.3,dense10";

    private static readonly TrainingOptions Options = new()
    {
        BatchSize = 48, Epochs = 3, Optimizer = "momentum", Momentum = 0.9, LearningRate = 0.05, WeightDecay = 1e-4, Seed = 5,
    };

    [Theory]
    [InlineData(Tiny, 1)]
    [InlineData(Tiny, 2)]
    [InlineData(Tiny, 3)]
    [InlineData(Full, 1)]
    [InlineData(Full, 2)]
    [InlineData(Full, 3)]
    public void RanksEndWithTheWeightsOfOneProcess(string spec, int ranks) =>
        AssertRanksEndWithTheWeightsOfOneProcess(spec, BundledDigits.Load().Train.Take(48 * 4 + 29), ranks);

    /// <summary>Every one of <paramref name="ranks"/> simulated ranks ends with the weights and reported loss of one process training alone.</summary>
    private static void AssertRanksEndWithTheWeightsOfOneProcess(string spec, ImageDataSet data, int ranks)
    {
        var (alone, aloneLoss) = Train(spec, data, reducer: null);
        var group = new ThreadRanks(ranks);
        var results = group.Run(r => Train(spec, data, group.Rank(r)));
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal(alone.ToString("x16"), results[r].Hash.ToString("x16"));
            Assert.Equal(aloneLoss, results[r].Loss); // the reported training loss too
        }
    }

    /// <summary>
    /// A model whose second convolution trains through Winograd, its weight gradient included (16 -> 16 channels, 5x5; docs/MATH.md,
    /// "Winograd convolution in training"), over 48 x 4 + 18 samples: the last batch's second block has 2 samples, fewer than
    /// Conv2d.WinogradGradientSamples, so its chunk takes im2col + GEMM while the others take Winograd, on whichever rank holds it.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RanksTrainingThroughWinogradEndWithTheWeightsOfOneProcess(int ranks)
    {
        const string winograd = "maxpool2,conv3x3x16:same,relu,conv5x5x16:same,relu,maxpool2,flatten,dense10";
        var layers = ModelSpec.Parse(winograd).Build<float>(new Shape(1, 28, 28), "ce").Layers.OfType<SharpCnn.Layers.Conv2d<float>>().ToArray();
        Assert.Equal([false, true], layers.Select(l => l.WeightGradientUsesWinograd));
        AssertRanksEndWithTheWeightsOfOneProcess(winograd, BundledDigits.Load().Train.Take(48 * 4 + 18), ranks);
    }

    [Fact]
    public void ASplitBatchReallyExchanges()
    {
        // A rank that computed its share and skipped the exchange would hold another gradient: without the
        // other ranks' subtrees, a lone rank 1 of 3 trains to different weights.
        var data = BundledDigits.Load().Train.Take(96);
        var (alone, _) = Train(Tiny, data, reducer: null);
        var (partOnly, _) = Train(Tiny, data, new LoneRank());
        Assert.NotEqual(alone, partOnly);
    }

    /// <summary>Rank 1 of 3 whose exchange hands back only its own subtrees' bytes, repeated (what a broken exchange would do).</summary>
    private sealed class LoneRank : IBatchReducer
    {
        public int Rank => 1;

        public int Ranks => 3;

        public void AllGather(ReadOnlySpan<byte> mine, Span<byte> all, ReadOnlySpan<int> counts)
        {
            int at = 0;
            foreach (int c in counts)
            {
                mine[..Math.Min(c, mine.Length)].CopyTo(all[at..]);
                at += c;
            }
        }
    }

    private static (ulong Hash, double Loss) Train(string spec, ImageDataSet data, IBatchReducer? reducer)
    {
        var network = ModelSpec.Parse(spec).Build<float>(new Shape(1, 28, 28), "ce");
        Initializer.Apply(network.Layers, InitScheme.He, new Rng(11));
        var trainer = new Trainer<float>(network, Options) { Reducer = reducer };
        var result = trainer.Fit(data);
        Assert.True(result.Divergence is null, result.StopReason);
        var hash = new XxHash64();
        foreach (var p in network.Parameters) hash.Append(MemoryMarshal.AsBytes(p.Value.AsSpan()));
        return (hash.GetCurrentHashAsUInt64(), result.Epochs[^1].TrainLoss);
    }
}
