using SharpCnn.Kernels;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

public class Conv2dTests
{
    public static TheoryData<int, int, int, string, int, int> GradientCases()
    {
        var data = new TheoryData<int, int, int, string, int, int>();
        (int, int)[] kernels = [(1, 1), (2, 2), (2, 3), (3, 3), (4, 4), (5, 5)];
        string[] paddings = ["valid", "same", "full", "p1-0-2-1"];
        int i = 0;
        foreach (var (kh, kw) in kernels)
            foreach (int stride in new[] { 1, 2, 3 })
                foreach (string pad in paddings)
                {
                    // Alternate odd and even input sizes (and non-square ones).
                    (int h, int w) = (i++ % 3) switch { 0 => (7, 7), 1 => (8, 6), _ => (6, 9) };
                    data.Add(kh, kw, stride, pad, h, w);
                }
        return data;
    }

    private static Padding ParsePadding(string pad) => pad switch
    {
        "valid" => Padding.Valid,
        "same" => Padding.Same,
        "full" => Padding.Full,
        _ => Padding.Sides(1, 0, 2, 1),
    };

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradientCheckPasses(int kh, int kw, int stride, string pad, int h, int w)
    {
        var layer = new Conv2d<double>(3, kh, kw, stride, ParsePadding(pad));
        GradientAssert.Layer(layer, new Shape(2, h, w), n: 2);
    }

    [Fact]
    public void GradientCheckPassesWithAConnectionTable()
    {
        var layer = new Conv2d<double>(16, 5, 5, 1, Padding.Valid, ConnectionTables.LeNet5C3(), "lenet5");
        var report = GradientAssert.Layer(layer, new Shape(6, 9, 8), n: 2);
        // Only the 60 connected 5x5 kernels are parameters.
        Assert.Equal(60 * 25, report.Tensors.Single(t => t.Tensor == "weight").Total);
    }

    [Fact]
    public void SameOnEvenKernelsPadsTheExtraRowAtTheBottomAndRight()
    {
        var layer = new Conv2d<double>(1, 4, 2, 1, Padding.Same);
        Assert.Equal(new Shape(1, 7, 6), layer.Build(new Shape(1, 7, 6)));
        Assert.Equal((1, 2, 0, 1), layer.ResolvedPadding);
    }

    [Theory]
    [InlineData(5, 5, 1, "valid", 28, 28, 24, 24)]
    [InlineData(5, 5, 1, "same", 28, 28, 28, 28)]
    [InlineData(5, 5, 1, "full", 28, 28, 32, 32)]
    [InlineData(3, 3, 2, "same", 9, 7, 5, 4)]
    [InlineData(3, 3, 2, "valid", 9, 7, 4, 3)]
    [InlineData(2, 3, 3, "full", 6, 9, 3, 4)]
    public void OutputShapeFollowsTheFormula(int kh, int kw, int stride, string pad, int h, int w, int ho, int wo)
    {
        var layer = new Conv2d<double>(4, kh, kw, stride, ParsePadding(pad));
        Assert.Equal(new Shape(4, ho, wo), layer.Build(new Shape(3, h, w)));
    }

    [Fact]
    public void KernelLargerThanInputIsRejectedWithTheSizes()
    {
        var layer = new Conv2d<double>(4, 5, 5);
        var e = Assert.Throws<LayerShapeException>(() => layer.Build(new Shape(1, 4, 9)));
        Assert.Contains("kernel 5x5 is larger than its input 4x9", e.Message);
    }

    public static TheoryData<int, int, int, int, int, int, int, int, int, int, int> OddShapes() => new()
    {
        // n, cin, h, w, cout, kh, kw, stride, top/bottom, left/right, table?
        { 3, 1, 5, 7, 2, 3, 3, 1, 0, 0, 0 },
        { 2, 3, 9, 8, 5, 2, 3, 2, 1, 2, 0 },
        { 1, 5, 11, 13, 7, 5, 5, 3, 2, 2, 0 },
        { 2, 2, 6, 6, 3, 1, 1, 1, 0, 0, 0 },
        { 2, 4, 7, 5, 3, 1, 1, 2, 1, 0, 0 },
        { 2, 6, 10, 10, 16, 5, 5, 1, 0, 0, 1 },
        { 1, 17, 4, 19, 33, 3, 4, 1, 1, 3, 0 },
    };

    /// <summary>The im2col + GEMM path against the plain loops, in double and float.</summary>
    [Theory]
    [MemberData(nameof(OddShapes))]
    public void MatchesThePlainLoopReference(int n, int cin, int h, int w, int cout, int kh, int kw, int s, int padV, int padH, int useTable)
    {
        var rng = new Rng(11);
        var table = useTable == 1 ? ConnectionTables.LeNet5C3() : null;
        var shape = new Shape(cin, h, w);
        var layer = new Conv2d<double>(cout, kh, kw, s, Padding.Sides(padV, padV, padH, padH), table);
        layer.Build(shape);
        layer.Reserve(n);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        var x = RandomTensors.Normal(rng, n * shape.Size);
        var dy = RandomTensors.Normal(rng, n * layer.OutputShape.Size);
        var (ho, wo) = (layer.OutputShape.Height, layer.OutputShape.Width);

        var yRef = new double[dy.Length];
        var dxRef = new double[x.Length];
        var dwRef = new double[layer.Weight.Length];
        var dbRef = new double[cout];
        ConvolutionReference.Forward(x, layer.Weight.Value, layer.Bias.Value, yRef, n, cin, h, w, cout, kh, kw, s, padV, padH, ho, wo);
        ConvolutionReference.Backward(x, layer.Weight.Value, dy, dxRef, dwRef, dbRef, n, cin, h, w, cout, kh, kw, s, padV, padH, ho, wo);
        if (table is not null)
            for (int i = 0; i < dwRef.Length; i++)
                if (!layer.Weight.Mask![i]) dwRef[i] = 0;

        // double
        var y = new double[dy.Length];
        var dx = new double[x.Length];
        layer.Forward(x, y, n);
        layer.Backward(x, y, dy, dx, n);
        Assert.True(Reference.ReferenceCase.RelativeError(y, yRef) < 1e-12);
        Assert.True(Reference.ReferenceCase.RelativeError(dx, dxRef) < 1e-12);
        Assert.True(Reference.ReferenceCase.RelativeError(layer.Weight.Gradient, dwRef) < 1e-12);
        Assert.True(Reference.ReferenceCase.RelativeError(layer.Bias.Gradient, dbRef) < 1e-12);

        // float, same weights
        var lf = new Conv2d<float>(cout, kh, kw, s, Padding.Sides(padV, padV, padH, padH), table);
        lf.Build(shape);
        lf.Reserve(n);
        for (int i = 0; i < layer.Weight.Length; i++) lf.Weight.Value[i] = (float)layer.Weight.Value[i];
        for (int i = 0; i < cout; i++) lf.Bias.Value[i] = (float)layer.Bias.Value[i];
        var yf = new float[y.Length];
        var dxf = new float[x.Length];
        lf.Forward(RandomTensors.ToFloat(x), yf, n);
        lf.Backward(RandomTensors.ToFloat(x), yf, RandomTensors.ToFloat(dy), dxf, n);
        Assert.True(Reference.ReferenceCase.RelativeError(yf.Select(v => (double)v).ToArray(), yRef) < 1e-5);
        Assert.True(Reference.ReferenceCase.RelativeError(dxf.Select(v => (double)v).ToArray(), dxRef) < 1e-5);
        Assert.True(Reference.ReferenceCase.RelativeError(lf.Weight.Gradient.Select(v => (double)v).ToArray(), dwRef) < 1e-5);
    }

    [Fact]
    public void WeightGradientsAccumulateAndInputGradientsAreWritten()
    {
        var rng = new Rng(3);
        var layer = new Conv2d<double>(2, 3, 3, 1, Padding.Same);
        layer.Build(new Shape(1, 5, 5));
        layer.Reserve(1);
        foreach (var p in layer.Parameters) RandomTensors.Fill(p, rng);
        var x = RandomTensors.Normal(rng, 25);
        var y = new double[50];
        var dy = RandomTensors.Normal(rng, 50);
        var dx = Enumerable.Repeat(99.0, 25).ToArray();
        layer.Forward(x, y, 1);
        layer.Backward(x, y, dy, dx, 1);
        var once = layer.Weight.Gradient.ToArray();
        var dxOnce = dx.ToArray();
        layer.Backward(x, y, dy, dx, 1);
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], layer.Weight.Gradient[i], 12);
        Assert.Equal(dxOnce, dx);
    }
}
