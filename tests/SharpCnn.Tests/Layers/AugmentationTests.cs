using SharpCnn.Formats.Onnx;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests.Layers;

/// <summary>randcrop, randshift and randflip: the augmentation layers.</summary>
[Collection(ThreadCountCollection.Name)]
public sealed class AugmentationTests
{
    private static Layer<double> Make(string token) => LayerKinds.Parse(new LayerToken(token, 1)).Create<double>();

    [Theory]
    [InlineData("randcrop2", 2, 5, 6, 3)]
    [InlineData("randcrop4", 1, 3, 3, 4)]    // moves past the whole map: all zeros
    [InlineData("randshift1", 3, 4, 5, 3)]
    [InlineData("randshift3", 1, 2, 3, 4)]   // moves past the map: the border repeats
    [InlineData("randflip", 3, 4, 5, 4)]
    public void GradientCheckPassesWithFixedDraws(string token, int c, int h, int w, int n)
    {
        var layer = Make(token);
        ((IStepSeeded)layer).SetStep(seed: 21, step: 5);
        var report = GradientAssert.Layer(layer, new Shape(c, h, w), n);
        Assert.Equal(n * c * h * w, report.Tensors.Single().Checked);
    }

    [Fact]
    public void ACropMovesEachSampleByItsOffsetWithZerosAndAShiftRepeatsTheBorder()
    {
        var shape = new Shape(2, 5, 6);
        var x = Enumerable.Range(0, 4 * shape.Size).Select(i => i + 1.0).ToArray();
        foreach (bool edge in new[] { false, true })
        {
            var layer = Make(edge ? "randshift2" : "randcrop2");
            layer.Build(shape);
            layer.Reserve(4);
            ((IStepSeeded)layer).SetStep(3, 9);
            var y = new double[x.Length];
            layer.Forward(x, y, 4);
            var offsets = Enumerable.Range(0, 4).Select(s => edge ? ((RandomShift<double>)layer).OffsetOf(s) : ((RandomCrop<double>)layer).OffsetOf(s)).ToArray();
            Assert.All(offsets, o => Assert.InRange(o.Dy, -2, 2));
            Assert.True(offsets.Distinct().Count() > 1, "four samples all drew the same offset");
            for (int s = 0; s < 4; s++)
                for (int c = 0; c < 2; c++)
                    for (int i = 0; i < 5; i++)
                        for (int j = 0; j < 6; j++)
                        {
                            int r = i + offsets[s].Dy, q = j + offsets[s].Dx;
                            bool inside = r >= 0 && r < 5 && q >= 0 && q < 6;
                            double expected = inside || edge ? x[s * 60 + c * 30 + Math.Clamp(r, 0, 4) * 6 + Math.Clamp(q, 0, 5)] : 0;
                            Assert.Equal(expected, y[s * 60 + c * 30 + i * 6 + j]);
                        }
        }
    }

    [Fact]
    public void AFlipMirrorsAboutHalfTheSamples()
    {
        var layer = new RandomFlip<float>();
        var shape = new Shape(3, 2, 4);
        layer.Build(shape);
        layer.Reserve(200);
        layer.SetStep(1, 2);
        var x = Enumerable.Range(0, 200 * shape.Size).Select(i => (float)i).ToArray();
        var y = new float[x.Length];
        layer.Forward(x, y, 200);
        int flipped = 0;
        for (int s = 0; s < 200; s++)
        {
            bool flips = layer.Flips(s);
            if (flips) flipped++;
            for (int row = 0; row < 6; row++)
                for (int j = 0; j < 4; j++)
                    Assert.Equal(x[s * 24 + row * 4 + (flips ? 3 - j : j)], y[s * 24 + row * 4 + j]);
        }
        Assert.InRange(flipped, 70, 130);
    }

    [Theory]
    [InlineData("randcrop3")]
    [InlineData("randshift2")]
    [InlineData("randflip")]
    public void DrawsAreAPureFunctionOfSeedAndStepAndEvaluationIsTheIdentity(string token)
    {
        var layer = LayerKinds.Parse(new LayerToken(token, 1)).Create<float>();
        var shape = new Shape(1, 8, 8);
        layer.Build(shape);
        layer.Reserve(16);
        var x = Enumerable.Range(0, 16 * 64).Select(i => (float)(i % 61)).ToArray();
        float[] Run(ulong seed, long step)
        {
            ((IStepSeeded)layer).SetStep(seed, step);
            var y = new float[x.Length];
            layer.Forward(x, y, 16);
            return y;
        }
        var a = Run(4, 10);
        Assert.Equal(a, Run(7, 3) is var _ ? Run(4, 10) : null); // another step between does not change it
        Assert.NotEqual(a, Run(4, 11));
        Assert.NotEqual(a, Run(5, 10));
        layer.Training = false;
        Assert.Equal(x, Run(4, 10));
    }

    [Fact]
    public void AugmentedTrainingIsTheSameOnOneThreadAndTwoAndAllocatesNothingPerStep()
    {
        float[] Train(int threads)
        {
            using (new ThreadCountScope(threads))
            {
                var (train, _) = SharpCnn.Data.BundledDigits.Load();
                var net = ModelSpec.Parse("randcrop2,randflip,randshift1,conv5x5x4,relu,maxpool2,flatten,dense10").Build<float>(train.Shape);
                Initializer.Apply(net.Layers, InitScheme.He, new Rng(3));
                var trainer = new Trainer<float>(net, new TrainingOptions { Epochs = 1, BatchSize = 16, Optimizer = "adam", LearningRate = 0.003, MaxSteps = 12 });
                trainer.Fit(train.Take(400));
                return [.. net.Parameters.SelectMany(p => p.Value)];
            }
        }
        Assert.Equal(Train(1), Train(2));

        var layer = new RandomCrop<float>(4);
        layer.Build(new Shape(3, 32, 32));
        layer.Reserve(8);
        var input = new float[8 * 3 * 32 * 32];
        var output = new float[input.Length];
        var grad = new float[input.Length];
        layer.SetStep(1, 1);
        layer.Forward(input, output, 8);
        layer.Backward(input, output, output, grad, 8);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int step = 2; step < 10; step++)
        {
            layer.SetStep(1, step);
            layer.Forward(input, output, 8);
            layer.Backward(input, output, output, grad, 8);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void OnnxExportWritesNothingForThem()
    {
        var net = ModelSpec.Parse("randcrop4,randflip,randshift2,conv3x3x2,flatten,dense3").Build<float>(new Shape(3, 8, 8));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(2));
        var model = OnnxExport.Build(net, null);
        Assert.Equal("L4_conv", model.Graph.Node[0].Name[..7]);
        Assert.Equal("conv3x3x2:p0,flatten,dense3", OnnxImport.Read<float>(OnnxExport.ToBytes(net), "a.onnx").Network.Spec);
    }

    [Theory]
    [InlineData("randcrop", "randcrop needs its padding")]
    [InlineData("randcrop0", "a size of 0 leaves nothing")]
    [InlineData("randshift2000", "more than the 1000 pixels")]
    [InlineData("randflip:x", "takes no options")]
    public void BadTokensAreRefused(string token, string expected)
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpec.Parse(token + ",flatten,dense2"));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ThereIsNoBackwardPassBeforeTheFirstTrainedLayer()
    {
        // The same network with and without its untrained front gets the same weight gradients; the front's
        // layers are never asked for one (a spy would see no call).
        var shape = new Shape(1, 6, 6);
        var plain = ModelSpec.Parse("conv3x3x2,relu,flatten,dense3").Build<double>(shape);
        var fronted = ModelSpec.Parse("normalize,randflip,conv3x3x2,relu,flatten,dense3").Build<double>(shape);
        Initializer.Apply(plain.Layers, InitScheme.He, new Rng(6));
        Initializer.Apply(fronted.Layers, InitScheme.He, new Rng(6));
        fronted.Training = false; // the flip is the identity, so both compute the same function
        var x = RandomTensors.Normal(new Rng(1), 2 * 36);
        plain.Forward(x, 2);
        fronted.Forward(x, 2);
        plain.ZeroGradients();
        fronted.ZeroGradients();
        int[] labels = [0, 2];
        Assert.Equal(plain.Backward(labels, 2), fronted.Backward(labels, 2));
        Assert.Equal(plain.Parameters.SelectMany(p => p.Gradient), fronted.Parameters.Where(p => p.IsTrained).SelectMany(p => p.Gradient));
        // The gradient of the network's input is still there when asked for.
        fronted.Backward(labels, 2, inputGradient: true);
        Assert.Contains(fronted.InputGradient(2).ToArray(), v => v != 0);
    }
}
