using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

public class PoolingTests
{
    public static TheoryData<string, int, int, int, string, int, int> Cases()
    {
        var data = new TheoryData<string, int, int, int, string, int, int>();
        foreach (string kind in new[] { "max", "mean", "subsample" })
            foreach (string edge in new[] { "drop", "pad" })
                foreach (var (kh, kw, s) in new[] { (2, 2, 2), (3, 3, 3), (3, 3, 2), (2, 3, 1), (4, 4, 4) })
                    foreach (var (h, w) in new[] { (8, 8), (7, 9) })
                    {
                        if (kind == "subsample" && (kh != kw || s != kh)) continue;
                        data.Add(kind, kh, kw, s, edge, h, w);
                    }
        return data;
    }

    private static Layer<double> Make(string kind, int kh, int kw, int s, PoolEdge edge) => kind switch
    {
        "max" => new MaxPool2d<double>(kh, kw, s, edge),
        "mean" => new MeanPool2d<double>(kh, kw, s, edge),
        _ => new Subsample2d<double>(kh, edge),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientCheckPasses(string kind, int kh, int kw, int s, string edgeName, int h, int w)
    {
        var edge = edgeName == "pad" ? PoolEdge.Pad : PoolEdge.Drop;
        var shape = new Shape(3, h, w);
        var rng = new Rng(5);
        // Distinct values: no two inputs of a window tie (the checker would re-draw them otherwise).
        var x = RandomTensors.Distinct(rng, 2 * shape.Size);
        GradientAssert.Layer(Make(kind, kh, kw, s, edge), shape, n: 2, x);
    }

    [Theory]
    [InlineData(7, 2, 2, "drop", 3)]
    [InlineData(7, 2, 2, "pad", 4)]
    [InlineData(8, 2, 2, "pad", 4)]
    [InlineData(11, 2, 2, "pad", 6)] // seed 004: an 11x11 map padded to 12x12 pools to 6x6
    [InlineData(11, 2, 2, "drop", 5)]
    [InlineData(9, 3, 2, "drop", 4)]
    [InlineData(10, 3, 2, "pad", 5)]
    [InlineData(2, 3, 3, "pad", 1)]
    public void OutputSizeFollowsTheEdgeMode(int size, int window, int stride, string edge, int expected) =>
        Assert.Equal(expected, PoolWindow.OutputSize(size, window, stride, edge == "pad" ? PoolEdge.Pad : PoolEdge.Drop));

    [Fact]
    public void DropModeRejectsAWindowLargerThanTheInput()
    {
        var e = Assert.Throws<LayerShapeException>(() => new MaxPool2d<double>(3).Build(new Shape(1, 2, 5)));
        Assert.Contains("larger than its input 2x5", e.Message);
    }

    [Fact]
    public void MaxPoolRoutesTheGradientToTheArgMaxOnly()
    {
        var pool = new MaxPool2d<double>(2);
        pool.Build(new Shape(1, 2, 2));
        pool.Reserve(1);
        double[] x = [1, 4, 3, 2];
        var y = new double[1];
        var dx = new double[4];
        pool.Forward(x, y, 1);
        pool.Backward(x, y, [5.0], dx, 1);
        Assert.Equal(4, y[0]);
        Assert.Equal(new double[] { 0, 5, 0, 0 }, dx);
    }

    [Fact]
    public void PadModeZerosTakePartInTheMaxButReceiveNoGradient()
    {
        var pool = new MaxPool2d<double>(2, 2, PoolEdge.Pad);
        pool.Build(new Shape(1, 2, 3));
        pool.Reserve(1);
        double[] x = [-1, -2, -3, -4, -5, -6];
        var y = new double[2];
        var dx = new double[6];
        pool.Forward(x, y, 1);
        pool.Backward(x, y, [1.0, 1.0], dx, 1);
        Assert.Equal(new double[] { -1, 0 }, y); // the second window is [-3, pad, -6, pad]: a padded zero wins
        Assert.Equal(new double[] { 1, 0, 0, 0, 0, 0 }, dx);
    }

    /// <summary>
    /// Seed 003 says max pooling's error is "copied to all four inputs". A layer doing that
    /// fails the gradient check; the arg-max routing passes it.
    /// </summary>
    [Fact]
    public void SeedThreesCopyToAllFourRuleFailsTheGradientCheck()
    {
        var shape = new Shape(2, 6, 6);
        var x = RandomTensors.Distinct(new Rng(1), 2 * shape.Size);
        var wrong = new CopyToAllMaxPool();
        wrong.Build(shape);
        var report = GradientChecker.CheckLayer(wrong, x, 2);
        Assert.False(report.Passed);
        Assert.True(report.MaxRelativeError > 0.5, GradientAssert.Describe(report));
    }

    private sealed class CopyToAllMaxPool : Layer<double>
    {
        private readonly MaxPool2d<double> inner = new(2);

        public override LayerSpec Spec => new CodeLayerSpec("maxpool2-copy-to-all");

        protected override Shape Configure(Shape input) => inner.Build(input);

        protected override void ReserveScratch(int batch) => inner.Reserve(batch);

        public override void Forward(ReadOnlySpan<double> x, Span<double> y, int n) => inner.Forward(x, y, n);

        public override void Backward(ReadOnlySpan<double> x, ReadOnlySpan<double> y, ReadOnlySpan<double> dy, Span<double> dx, int n)
        {
            int h = InputShape.Height, w = InputShape.Width;
            for (int i = 0; i < n * InputShape.Size; i++)
            {
                int plane = i / (h * w), r = i % (h * w) / w, c = i % w;
                dx[i] = dy[plane * OutputShape.Height * OutputShape.Width + r / 2 * OutputShape.Width + c / 2];
            }
        }
    }

    /// <summary>
    /// A max pooling after a ReLU runs both forward passes and both backward passes as one (ForwardThroughPrevious,
    /// BackwardThroughPrevious): bit for bit the two layers' passes one after the other, for windows that tile the input (the vector path in float) and for overlapping, padded and
    /// dropped-edge ones, in float and double, with ties, zeros of both signs, infinities and NaN in x and dy.
    /// </summary>
    [Theory]
    [InlineData(2, 2, 2, "drop", 28, 28)]
    [InlineData(2, 2, 2, "drop", 14, 14)]
    [InlineData(2, 2, 2, "drop", 8, 6)]
    [InlineData(2, 2, 2, "drop", 7, 9)]
    [InlineData(3, 3, 2, "pad", 8, 8)]
    [InlineData(3, 3, 2, "drop", 9, 7)]
    [InlineData(2, 3, 1, "pad", 7, 9)]
    public void AMaxPoolingTakesOverThePassesOfTheReluBeforeIt(int kh, int kw, int s, string edge, int h, int w)
    {
        Check<float>(kh, kw, s, edge, h, w);
        Check<double>(kh, kw, s, edge, h, w);

        static void Check<T>(int kh, int kw, int s, string edge, int h, int w) where T : unmanaged, IFloatingPointIeee754<T>
        {
            var shape = new Shape(3, h, w);
            const int n = 2;
            var relu = new Relu<T>();
            var pool = new MaxPool2d<T>(kh, kw, s, edge == "pad" ? PoolEdge.Pad : PoolEdge.Drop);
            var poolInput = relu.Build(shape);
            var outputShape = pool.Build(poolInput);
            relu.Reserve(n);
            pool.Reserve(n);
            Assert.True(pool.TakesOver(relu));
            Assert.False(pool.TakesOver(new Sigmoid<T>()));
            var random = new Random(h * 100 + w * 10 + kh);
            T[] special = [T.NaN, T.NegativeInfinity, T.PositiveInfinity, T.Zero, T.NegativeZero];
            T Draw() => random.Next(6) == 0 ? special[random.Next(special.Length)] : T.CreateTruncating(random.Next(5) - 2.5 + random.Next(2));
            T[] x = Enumerable.Range(0, n * shape.Size).Select(_ => Draw()).ToArray();
            T[] a = new T[n * shape.Size], y = new T[n * outputShape.Size];
            relu.Forward(x, a, n);
            pool.Forward(a, y, n);
            T[] dy = Enumerable.Range(0, y.Length).Select(_ => Draw()).ToArray();

            T[] poolDx = new T[a.Length], expected = new T[x.Length], fused = new T[x.Length];
            pool.Backward(a, y, dy, poolDx, n);
            relu.Backward(x, a, poolDx, expected, n);
            fused.AsSpan().Fill(T.CreateTruncating(42)); // every value is written
            pool.BackwardThroughPrevious(a, y, dy, fused, n);
            AssertSameBits(expected, fused, "backward");

            // Both forward passes as one, from the ReLU's input: the same outputs; then either backward pass (the two
            // layers' one after the other, or as one) gives the same input gradient as above, though the arg-max of a
            // window whose maximum is not positive may differ.
            var folding = new MaxPool2d<T>(kh, kw, s, edge == "pad" ? PoolEdge.Pad : PoolEdge.Drop);
            folding.Build(poolInput);
            folding.Reserve(n);
            T[] foldedY = new T[y.Length];
            folding.ForwardThroughPrevious(x, foldedY, n);
            AssertSameBits(y, foldedY, "forward");
            fused.AsSpan().Fill(T.CreateTruncating(42));
            folding.BackwardThroughPrevious(a, foldedY, dy, fused, n);
            AssertSameBits(expected, fused, "backward after the folded forward pass");
            folding.Backward(a, foldedY, dy, poolDx, n);
            relu.Backward(x, a, poolDx, fused, n);
            AssertSameBits(expected, fused, "both backward passes after the folded forward pass");
        }

        static void AssertSameBits<T>(T[] expected, T[] actual, string what) where T : unmanaged
        {
            for (int i = 0; i < expected.Length; i++)
                Assert.True(BitsOf(expected[i]) == BitsOf(actual[i]), $"{typeof(T).Name} {what}, element {i}: {expected[i]} expected, {actual[i]} written");
        }

        static long BitsOf<T>(T value) where T : unmanaged => typeof(T) == typeof(float)
            ? BitConverter.SingleToInt32Bits((float)(object)value) : BitConverter.DoubleToInt64Bits((double)(object)value);
    }
}
