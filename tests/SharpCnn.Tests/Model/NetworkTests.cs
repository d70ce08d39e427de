using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Model;

[Collection(ThreadCountCollection.Name)]
public class NetworkTests
{
    /// <summary>End-to-end and per-layer gradient checks of whole presets (in double, a sample of the elements of big tensors).</summary>
    [Theory]
    [InlineData("lenet5", 2, 0)]
    [InlineData("seed-fc2", 2, 0)]
    [InlineData("seed-cnn", 2, 40)]
    public void PresetModelsPassTheFullGradientCheck(string name, int n, int sample)
    {
        var preset = Presets.Find(name)!;
        var net = ModelSpec.Parse(preset.Spec).Build<double>(new Shape(1, 28, 28), preset.Loss);
        var rng = new Rng(21);
        Initializer.Apply(net.Layers, preset.Init == InitScheme.Uniform ? InitScheme.Xavier : preset.Init, rng);
        var x = Enumerable.Range(0, n * 784).Select(_ => rng.NextDouble()).ToArray();
        int[] labels = Enumerable.Range(0, n).Select(i => i % 10).ToArray();
        var report = GradientChecker.CheckModel(net, x, labels, n, new GradientCheckOptions { MaxElementsPerTensor = sample == 0 ? 150 : sample, Seed = 3 });
        GradientAssert.Passes(report);
    }

    [Fact]
    public void AnEndToEndCheckCoversEveryParameterAndTheInput()
    {
        var net = ModelSpec.Parse("conv3x3x2:same,relu,maxpool2,subsample2:pad,tanh,dense3").Build<double>(new Shape(1, 7, 6));
        var rng = new Rng(1);
        Initializer.Apply(net.Layers, InitScheme.He, rng);
        var x = RandomTensors.Normal(rng, 2 * 42);
        var report = GradientChecker.CheckNetwork(net, x, 2);
        GradientAssert.Passes(report);
        Assert.Equal(["input", "weight", "bias", "beta", "bias", "weight", "bias"], report.Tensors.Select(t => t.Tensor));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ATrainingStepAllocatesNothingAfterWarmUp(int threads)
    {
        using var scope = new ThreadCountScope(threads);
        var net = ModelSpec.Parse("conv5x5x8:same,relu,maxpool2,conv3x3x4:table=10000000.01000000.00100000.00011111,sigmoid,meanpool2:pad,subsample2,tanh,flatten,dense10,minusmax")
            .Build<float>(new Shape(1, 28, 28), "softmax-mse");
        Initializer.Apply(net.Layers, InitScheme.Normal, new Rng(1));
        net.Reserve(4);
        var optimizer = SharpCnn.Optim.Optimizers.Create<float>("adam", net.Parameters, 1e-3);
        int[] labels = [1, 2, 3, 4];
        void Step()
        {
            net.ZeroGradients();
            net.Forward(4);
            net.Backward(labels, 4);
            optimizer.Step();
        }
        Step();
        Step();
        // The runtime may allocate now and then on this thread while it recompiles hot methods (tiered
        // compilation); an allocation by the step itself would show in every round, so one clean round of three passes.
        long fewest = long.MaxValue;
        for (int round = 0; round < 3 && fewest > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5; i++) Step();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, fewest);
    }

    [Fact]
    public void ATrainingStepWithBatchNormAndDropoutAllocatesNothingAfterWarmUp()
    {
        var net = ModelSpec.Parse("conv3x3x4:same,batchnorm,relu,maxpool2,dropout0.25,flatten,dense16,batchnorm,relu,dropout0.5,dense10")
            .Build<float>(new Shape(1, 12, 12));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(1));
        net.Reserve(4);
        var optimizer = SharpCnn.Optim.Optimizers.Create<float>("momentum", net.Parameters, 1e-2);
        int[] labels = [1, 2, 3, 4];
        long step = 0;
        void Step()
        {
            net.ZeroGradients();
            net.SetStep(1, step++);
            net.Forward(4);
            net.Backward(labels, 4);
            optimizer.Step();
        }
        Step();
        Step();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5; i++) Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void ANetworkWithBatchNormAndDropoutPassesTheFullGradientCheck()
    {
        var net = ModelSpec.Parse("conv3x3x3:same,batchnorm,relu,maxpool2,dropout0.3,flatten,dense6,batchnorm,tanh,dropout0.5,dense4")
            .Build<double>(new Shape(2, 6, 6));
        var rng = new Rng(13);
        Initializer.Apply(net.Layers, InitScheme.He, rng);
        net.SetStep(5, 17);
        var x = RandomTensors.Normal(rng, 3 * 72);
        GradientAssert.Passes(GradientChecker.CheckModel(net, x, [0, 1, 3], 3, new GradientCheckOptions { Seed = 2 }));
    }

    [Fact]
    public void FloatAndDoubleAgreeOnTheSameWeights()
    {
        var spec = ModelSpec.Parse(Presets.Find("lenet5")!.Spec);
        var d = spec.Build<double>(new Shape(1, 28, 28));
        var f = spec.Build<float>(new Shape(1, 28, 28));
        Initializer.Apply(d.Layers, InitScheme.LeCun, new Rng(5));
        Initializer.Apply(f.Layers, InitScheme.LeCun, new Rng(5));
        var x = Enumerable.Range(0, 784).Select(i => (i % 17) / 17.0).ToArray();
        var yd = d.Forward(x, 1).ToArray();
        var yf = f.Forward(x.Select(v => (float)v).ToArray(), 1).ToArray();
        for (int i = 0; i < 10; i++) Assert.Equal(yd[i], yf[i], 4);
    }

    /// <summary>
    /// The output gradients take turns in two shared buffers; the input gradient has its own, so it stays that of the last
    /// backward pass that asked for it, and a pass with every layer's gradient in the shared buffers computes the same
    /// parameter gradients as one whose layers each get a buffer of their own (layer by layer, by hand).
    /// </summary>
    [Fact]
    public void SharedGradientBuffersKeepTheInputGradientAndGiveEachLayersOwnResult()
    {
        var net = ModelSpec.Parse("conv3x3x4:same,relu,maxpool2,conv3x3x3,relu,flatten,dense5,relu,dense3").Build<double>(new Shape(2, 8, 8));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(8));
        const int n = 3;
        var x = RandomTensors.Normal(new Rng(9), n * 128);
        int[] labels = [0, 2, 1];
        net.Forward(x, n);
        net.ZeroGradients();
        net.Backward(labels, n, inputGradient: true);
        double[] inputGradient = net.InputGradient(n).ToArray();
        double[][] parameterGradients = [.. net.Parameters.Select(p => p.Gradient.ToArray())];
        Assert.Contains(inputGradient, v => v != 0);

        // A pass on other inputs that does not ask for the input gradient leaves the last one as it was.
        net.Forward(RandomTensors.Normal(new Rng(10), n * 128), n);
        net.ZeroGradients();
        net.Backward(labels, n);
        Assert.Equal(inputGradient, net.InputGradient(n).ToArray());

        // Layer by layer with a buffer of its own for every gradient: the same parameter gradients, bit for bit.
        net.Forward(x, n);
        net.ZeroGradients();
        var layers = net.Layers;
        var dy = new double[n * net.OutputShape.Size];
        net.Loss.Backward(net.Output(n), labels, dy, n, net.Classes, n);
        for (int k = layers.Count - 1; k >= 0; k--)
        {
            var dx = new double[n * layers[k].InputShape.Size];
            layers[k].Backward(net.Activation(k, n), net.Activation(k + 1, n), dy, dx, n);
            dy = dx;
        }
        var own = net.Parameters.Select(p => p.Gradient.ToArray()).ToArray();
        Assert.Equal(parameterGradients.Length, own.Length);
        for (int i = 0; i < own.Length; i++) Assert.Equal(parameterGradients[i], own[i]);
        Assert.Equal(inputGradient, dy);
    }

    /// <summary>
    /// A max pooling takes over the passes of the ReLU before it, so the forward pass leaves the ReLU's output unwritten;
    /// Activation writes it when asked, the same values as the layer-by-layer pass, and forgets nothing on later passes.
    /// </summary>
    [Fact]
    public void TheOutputOfAReluWhosePassTheMaxPoolingTookOverIsWrittenWhenAskedFor()
    {
        var net = ModelSpec.Parse("conv3x3x4:same,relu,maxpool2,flatten,dense3").Build<float>(new Shape(1, 6, 6));
        Initializer.Apply(net.Layers, InitScheme.He, new Rng(4));
        const int n = 2;
        for (int pass = 0; pass < 2; pass++)
        {
            var x = RandomTensors.Normal(new Rng(20 + (ulong)pass), n * 36).Select(v => (float)v).ToArray();
            float[] output = net.Forward(x, n).ToArray();
            float[] convolution = net.Activation(1, n).ToArray();
            float[] relu = new float[convolution.Length], pooled = new float[n * 36];
            net.Layers[1].Forward(convolution, relu, n);
            Assert.Equal(relu, net.Activation(2, n).ToArray());
            Assert.Contains(relu, v => v > 0);
            net.Layers[2].Forward(relu, pooled, n);
            Assert.Equal(pooled, net.Activation(3, n).ToArray());
            Assert.Equal(output, net.Output(n).ToArray());
        }
    }
}
