// leakyrelu{alpha}: the gradient check, its vectorised passes against the plain loops on every tail
// length, its token, and its ONNX form both ways (ONNX Runtime runs it in tests/onnx-check).

using SharpCnn.Formats.Onnx;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Tests.Formats.Onnx;

namespace SharpCnn.Tests.Layers;

public sealed class LeakyReluTests
{
    [Theory]
    [InlineData(0.1)]
    [InlineData(0.01)]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void GradientCheckPasses(double alpha)
    {
        var shape = new Shape(2, 5, 7);
        var x = RandomTensors.AwayFromZero(new Rng(9), 3 * shape.Size); // off the kink at 0
        GradientAssert.Layer(new LeakyRelu<double>(alpha), shape, n: 3, x);
    }

    [Fact]
    public void NetworkWithLeakyReluPassesTheGradientCheck()
    {
        var network = ModelSpec.Parse("conv3x3x4:same,leakyrelu0.1,maxpool2,flatten,dense10").Build<double>(new Shape(1, 8, 8));
        Initializer.Apply(network.Layers, InitScheme.He, new Rng(3));
        var rng = new Rng(5);
        GradientAssert.Passes(GradientChecker.CheckModel(network, RandomTensors.Normal(rng, 2 * 64), [3, 7], 2));
    }

    /// <summary>Every length from 0 to twice the widest vector (64 floats, 32 doubles on AVX-512), so every tail is taken.</summary>
    public static TheoryData<int> Lengths() => [.. Enumerable.Range(0, 2 * 16 + 3)];

    [Theory]
    [MemberData(nameof(Lengths))]
    public void KernelsEqualTheirReferencesBitForBit(int length)
    {
        KernelsEqualTheirReferences<float>(length);
        KernelsEqualTheirReferences<double>(length);
    }

    private static void KernelsEqualTheirReferences<T>(int length) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Rng((ulong)length + 1);
        T[] special = [T.Zero, -T.Zero, T.NaN, T.PositiveInfinity, T.NegativeInfinity, T.Epsilon, -T.Epsilon];
        var x = new T[length];
        var dy = new T[length];
        for (int i = 0; i < length; i++)
        {
            x[i] = i % 5 == 4 ? special[i / 5 % special.Length] : T.CreateChecked(rng.NextNormal());
            dy[i] = T.CreateChecked(rng.NextNormal());
        }
        T alpha = T.CreateChecked(0.1);
        T[] fast = new T[length], plain = new T[length];
        LeakyRelu<T>.ForwardKernel(x, fast, alpha);
        LeakyRelu<T>.ForwardReference(x, plain, alpha);
        Assert.Equal(Bits(plain), Bits(fast));
        LeakyRelu<T>.BackwardKernel(x, dy, fast, alpha);
        LeakyRelu<T>.BackwardReference(x, dy, plain, alpha);
        Assert.Equal(Bits(plain), Bits(fast));
    }

    private static string[] Bits<T>(T[] values) where T : unmanaged, IFloatingPointIeee754<T> =>
        [.. values.Select(v => v is float f ? BitConverter.SingleToUInt32Bits(f).ToString("x8") : BitConverter.DoubleToUInt64Bits(double.CreateChecked(v)).ToString("x16"))];

    [Fact]
    public void ItIsReluAtZeroSlopeAndTheIdentityAtOne()
    {
        var shape = new Shape(3, 4, 4);
        var x = RandomTensors.Normal(new Rng(2), 2 * shape.Size);
        double[] Run(Layer<double> layer)
        {
            layer.Build(shape);
            layer.Reserve(2);
            var y = new double[x.Length];
            layer.Forward(x, y, 2);
            return y;
        }
        Assert.Equal(Run(new Relu<double>()), Run(new LeakyRelu<double>(0)));
        Assert.Equal(x, Run(new LeakyRelu<double>(1)));
        var leaky = Run(new LeakyRelu<double>(0.2));
        for (int i = 0; i < x.Length; i++) Assert.Equal(x[i] > 0 ? x[i] : 0.2 * x[i], leaky[i]);
    }

    [Theory]
    [InlineData("leakyrelu0.1", "leakyrelu0.1")]
    [InlineData("LeakyReLU0.01", "leakyrelu0.01")]
    [InlineData("leakyrelu1e-3", "leakyrelu0.001")]
    [InlineData("leakyrelu1", "leakyrelu1")]
    public void TokensReadBack(string text, string canonical)
    {
        var spec = ModelSpec.Parse($"conv3x3x2,{text},dense3");
        Assert.Equal(new LeakyReluSpec(double.Parse(canonical["leakyrelu".Length..], System.Globalization.CultureInfo.InvariantCulture)), spec.Layers[1]);
        Assert.Equal($"conv3x3x2,{canonical},dense3", spec.Text);
        Assert.Equal(spec.Text, spec.Build<float>(new Shape(1, 6, 6)).Spec);
    }

    [Theory]
    [InlineData("leakyrelu", "leakyrelu needs its slope")]
    [InlineData("leakyrelu1.5", "slope 1.5 is above 1")]
    [InlineData("leakyrelu-0.1", "'-0.1' is not a decimal number")]
    [InlineData("leakyrelu0.1:x", "takes no options")]
    public void BadTokensNameTheReason(string text, string reason)
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpec.Parse($"relu,{text}"));
        Assert.Equal(2, e.Position);
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData(typeof(float))]
    [InlineData(typeof(double))]
    public void ExportsAsOnnxLeakyReluAndImportsBack(Type precision)
    {
        // Weights travel as float32 either way: the outputs agree to float32's rounding.
        if (precision == typeof(float)) RoundTrip<float>(1e-5);
        else RoundTrip<double>(1e-5);
    }

    private static void RoundTrip<T>(double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var network = OnnxExportTests.Make<T>("conv3x3x4:same,leakyrelu0.1,maxpool2,flatten,dense10", new Shape(1, 8, 8));
        byte[] bytes = OnnxExport.ToBytes(network);
        var graph = SharpCnn.Formats.Onnx.Proto.ModelProto.Parser.ParseFrom(bytes).Graph;
        var node = Assert.Single(graph.Node, n => n.OpType == "LeakyRelu");
        Assert.Equal(0.1f, Assert.Single(node.Attribute).F);
        var back = OnnxImport.Read<T>(bytes, "leaky.onnx").Network;
        Assert.Equal("conv3x3x4:p1,leakyrelu0.1,maxpool2,flatten,dense10", back.Spec);
        var x = OnnxExportTests.Inputs<T>(network.InputShape, 5, 3);
        var expected = network.Forward(x, 5).ToArray();
        var actual = back.Forward(x, 5).ToArray();
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(double.CreateChecked(expected[i] - actual[i])) <= tolerance * (1 + Math.Abs(double.CreateChecked(expected[i]))), $"output {i}: {expected[i]} exported, {actual[i]} imported");
    }

    [Fact]
    public void OnnxLeakyReluWithoutAlphaTakesOnnxsDefaultAndABadSlopeIsRefused()
    {
        var m = new OnnxTestModel(13, 4);
        m.Node("LeakyRelu", ["x"], "y");
        m.Output("y");
        Assert.Equal("leakyrelu0.01", OnnxImport.Read<double>(m.Bytes(), "d.onnx", "mse").Network.Spec);

        var bad = new OnnxTestModel(13, 4);
        bad.Node("LeakyRelu", ["x"], "y", OnnxTestModel.Float("alpha", 2f));
        bad.Output("y");
        var e = Assert.Throws<FileFormatException>(() => OnnxImport.Read<double>(bad.Bytes(), "bad.onnx", "mse"));
        Assert.Contains("node 1 'y_node' (LeakyRelu) has alpha 2; SharpCnn's leaky ReLU takes a slope in [0, 1]", e.Message);
    }
}
