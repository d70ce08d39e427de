using System.IO.Hashing;
using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Kernels;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Model;

/// <summary>
/// The promise of docs/DETERMINISM.md end to end: training gives the same weights, bit for bit, on every SIMD
/// width (Vector512, Vector256, Vector128, scalar) and on 1, 2 and 3 threads. Two models are trained for 200
/// steps (one pass over 2,000 bundled digits in batches of 10: two gradient chunks, the second partial) and
/// their final parameters (weights, biases, batch-norm running statistics) hashed with XxHash64; the hash is
/// ONE committed figure, the same on every width. .ci/run runs this class again under DOTNET_EnableAVX512=0,
/// DOTNET_EnableAVX2=0 and DOTNET_EnableHWIntrinsic=0. The models are narrow (an eighth of the channels, 32
/// dense units) so that the runs without hardware FMA (where every fused multiply-add is computed in software)
/// stay within a CI run:
///   - the seed CNN of seed 000 Table 3 (preset seed-cnn), with Adam: convolution, ReLU, max pooling, dense
///     layers, softmax cross-entropy;
///   - the Fashion-MNIST recipe's model (docs/fashion-mnist.md) with its training:
///     batch norm after each convolution and the dense layer, dropout, momentum SGD with cosine decay and
///     weight decay, He initialisation.
/// A change of the canonical order changes these hashes: then the new figures go here, once, for every width.
/// </summary>
[Collection(ThreadCountCollection.Name)]
public class EveryWidthTrainingTests
{
    private const string SeedCnn = "conv5x5x4:same,relu,maxpool2,conv5x5x8:same,relu,maxpool2,flatten,dense32,relu,dense10";

    private const string FashionRecipe =
        "conv5x5x4:same,batchnorm,relu,maxpool2,dropout0.1,conv5x5x8:same,batchnorm,relu,maxpool2,dropout0.25,flatten,dense32,batchnorm,relu,dropout0.5,dense10";

    /// <summary>XxHash64 of the seed CNN's parameters after training, on every width and thread count.</summary>
    private const ulong SeedCnnHash = 0x4b88a9452bc04938;

    /// <summary>XxHash64 of the Fashion-MNIST recipe model's parameters after training, on every width and thread count.</summary>
    private const ulong FashionRecipeHash = 0x3a67fe3fbc19f4ad;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TheSeedCnnTrainsToOneHashOnEveryWidth(int threads)
    {
        ulong hash = Train(SeedCnn, InitScheme.He, new TrainingOptions
        {
            BatchSize = 10, Optimizer = "adam", LearningRate = 0.001, MaxSteps = 200, Seed = 3,
        }, threads);
        Assert.Equal(SeedCnnHash.ToString("x16"), hash.ToString("x16"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void TheFashionRecipeModelTrainsToOneHashOnEveryWidth(int threads)
    {
        ulong hash = Train(FashionRecipe, InitScheme.He, new TrainingOptions
        {
            BatchSize = 10, Optimizer = "momentum", Momentum = 0.9, LearningRate = 0.05, Schedule = LearningRateSchedule.Cosine,
            WeightDecay = 5e-4, MaxSteps = 200, Seed = 1,
        }, threads);
        Assert.Equal(FashionRecipeHash.ToString("x16"), hash.ToString("x16"));
    }

    /// <summary>
    /// A model whose float convolutions train through Winograd (Conv2d.ForwardUsesWinograd, InputGradientUsesWinograd and WeightGradientUsesWinograd): 16 -> 16
    /// channels, 3x3 and 5x5, 'same' and 'valid' (docs/MATH.md, "Winograd convolution in training"); small, so that the scalar runs stay short.
    /// </summary>
    private const string WinogradModel = "maxpool2,conv3x3x16:same,relu,conv5x5x16:valid,relu,maxpool2,conv3x3x16:same,relu,flatten,dense10";

    /// <summary>XxHash64 of <see cref="WinogradModel"/>'s parameters after training, on every width and thread count.</summary>
    private const ulong WinogradModelHash = 0x799df4ce84dc90ba;

    [Fact]
    public void AModelTrainingThroughWinogradTrainsToOneHashOnEveryWidthAndThreadCount()
    {
        var layers = ModelSpec.Parse(WinogradModel).Build<float>(new Shape(1, 28, 28), "ce").Layers.OfType<SharpCnn.Layers.Conv2d<float>>().ToArray();
        Assert.Equal([false, true, true], layers.Select(l => l.ForwardUsesWinograd));
        Assert.Equal([true, true, true], layers.Select(l => l.InputGradientUsesWinograd));
        Assert.Equal([false, true, true], layers.Select(l => l.WeightGradientUsesWinograd));
        foreach (int threads in new[] { 1, 2, 3 })
        {
            ulong hash = Train(WinogradModel, InitScheme.He, new TrainingOptions
            {
                BatchSize = 10, Optimizer = "adam", LearningRate = 0.001, MaxSteps = 20, Seed = 5,
            }, threads, images: 200);
            Assert.Equal(WinogradModelHash.ToString("x16"), hash.ToString("x16"));
        }
    }

    private static ulong Train(string spec, InitScheme init, TrainingOptions options, int threads, int images = 2000)
    {
        using var scope = new ThreadCountScope(threads);
        var network = ModelSpec.Parse(spec).Build<float>(new Shape(1, 28, 28), "ce");
        Initializer.Apply(network.Layers, init, new Rng(7));
        var (train, _) = BundledDigits.Load();
        var result = new Trainer<float>(network, options).Fit(train.Take(images)); // one epoch (200 steps of 10 for 2,000 images)
        Assert.True(result.Divergence is null && result.Steps == options.MaxSteps, $"{result.Steps} steps: {result.StopReason}");
        var hash = new XxHash64();
        foreach (var p in network.Parameters) hash.Append(MemoryMarshal.AsBytes(p.Value.AsSpan()));
        ulong value = hash.GetCurrentHashAsUInt64();
        TestContext.Current.TestOutputHelper?.WriteLine($"{PeakFlops.VectorName}, {threads} thread(s): {value:x16}");
        return value;
    }
}
