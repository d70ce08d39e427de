using System.Runtime.InteropServices;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

/// <summary>The one place fresh networks are made: a spec, a preset or layers, built and initialised from a seed.</summary>
public sealed class ModelFactoryTests
{
    private static readonly Shape Digits = new(1, 28, 28);

    private static void AssertSameWeights<T>(Network<T> expected, Network<T> actual) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Spec, actual.Spec);
        Assert.Equal(expected.Loss.Name, actual.Loss.Name);
        var a = expected.Parameters.ToArray();
        var b = actual.Parameters.ToArray();
        Assert.Equal(a.Length, b.Length);
        for (int i = 0; i < a.Length; i++)
            Assert.True(MemoryMarshal.AsBytes(a[i].Value.AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(b[i].Value.AsSpan())), $"parameter {i} differs");
    }

    [Theory]
    [InlineData("conv5x5x8:same,relu,maxpool2,batchnorm,flatten,dense10", "ce", InitScheme.He, 1UL)]
    [InlineData("flatten,dense300,sigmoid,dense10,minusmax", "softmax-mse", InitScheme.Normal, 7UL)]
    [InlineData("conv3x3x4:s2:p1,tanh,subsample2,dense10", "mse", InitScheme.Uniform, 42UL)]
    public void ASpecIsParsedBuiltAndInitialisedFromItsSeed(string spec, string loss, InitScheme init, ulong seed)
    {
        var expected = ModelSpec.Parse(spec).Build<double>(Digits, loss);
        Initializer.Apply(expected.Layers, init, new Rng(seed));
        AssertSameWeights(expected, ModelFactory.FromSpec<double>(spec, Digits, loss, init, seed));
        AssertSameWeights(expected, ModelFactory.FromSpec<double>(ModelSpec.Parse(spec), Digits, loss, init, seed));
        Assert.False( // another seed, other weights
            ModelFactory.FromSpec<double>(spec, Digits, loss, init, seed + 1).Parameters.First().Value.SequenceEqual(expected.Parameters.First().Value));
    }

    [Fact]
    public void ASpecWithoutLossOrInitialiserGetsCrossEntropyAndHe()
    {
        var network = ModelFactory.FromSpec<float>("flatten,dense10", Digits);
        Assert.Equal("ce", network.Loss.Name);
        AssertSameWeights(ModelFactory.FromSpec<float>("flatten,dense10", Digits, "ce", InitScheme.He, 1), network);
        Assert.Equal((ModelFactory.DefaultLoss, ModelFactory.DefaultInit), ("ce", InitScheme.He));
    }

    [Theory]
    [InlineData("seed-cnn")]
    [InlineData("seed-fc1")]
    [InlineData("SEED-FC2")]
    [InlineData("lenet5")]
    public void APresetComesWithItsOwnLossAndInitialiser(string name)
    {
        var preset = Presets.Find(name)!;
        var network = ModelFactory.FromPreset<float>(name, Digits, seed: 5);
        Assert.Equal(preset.Loss, network.Loss.Name);
        AssertSameWeights(ModelFactory.FromSpec<float>(preset.Spec, Digits, preset.Loss, preset.Init, 5), network);
    }

    [Fact]
    public void AnUnknownPresetIsNamedWithTheOnesThereAre()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFactory.FromPreset<float>("lenet7", Digits));
        Assert.Contains("unknown preset 'lenet7'; expected one of: seed-cnn, seed-fc1, seed-fc2, lenet5", e.Message);
    }

    [Fact]
    public void LayersMadeInCodeAreInitialisedLikeTheirSpec()
    {
        Layer<float>[] layers = [new Conv2d<float>(4, 3, 3, padding: Padding.Same), new Relu<float>(), new MaxPool2d<float>(2), new Dense<float>(10)];
        var network = ModelFactory.FromLayers(Digits, layers, "mse", InitScheme.Xavier, 9);
        AssertSameWeights(ModelFactory.FromSpec<float>(network.Spec, Digits, "mse", InitScheme.Xavier, 9), network);
    }

    [Fact]
    public void TheSpecsOwnInputIsUsedAndMustAgreeWithAGivenOne()
    {
        Assert.Equal(new Shape(2, 6, 6), ModelFactory.FromSpec<float>("input2x6x6,flatten,dense3", null).InputShape);
        Assert.Equal(new Shape(2, 6, 6), ModelFactory.FromSpec<float>("input2x6x6,flatten,dense3", new Shape(2, 6, 6)).InputShape);
        var e = Assert.Throws<ModelSpecException>(() => ModelFactory.FromSpec<float>("input2x6x6,flatten,dense3", Digits));
        Assert.Contains("the spec's input 2x6x6 does not match the data's 1x28x28", e.Message);
        Assert.Contains("layer 2 'frob'", Assert.Throws<ModelSpecException>(() => ModelFactory.FromSpec<float>("flatten,frob", Digits)).Message);
    }

    [Fact]
    public void InitialisingAgainFromTheSameSeedGivesTheSameWeights()
    {
        var network = ModelFactory.FromSpec<float>("conv3x3x4,relu,flatten,dense10", Digits, seed: 3);
        var fresh = ModelFactory.FromSpec<float>("conv3x3x4,relu,flatten,dense10", Digits, seed: 3);
        foreach (var p in network.Parameters) p.Value.AsSpan().Fill(0.5f);
        ModelFactory.Initialize(network, InitScheme.He, 3);
        AssertSameWeights(fresh, network);
    }
}
