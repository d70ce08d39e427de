using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Seeds;

/// <summary>The seeds' worked examples, run through the engine.</summary>
public class SeedWorkedExampleTests
{
    /// <summary>
    /// Seed 001, section 3: a pooled error δ = [[2, 8], [4, 6]] upsampled through 2x2 pooling.
    /// Max pooling with the arg-max at top-left, bottom-right, top-right, bottom-left gives
    /// [[2,0,0,0],[0,0,0,8],[0,4,0,0],[0,0,6,0]].
    /// </summary>
    [Fact]
    public void Seed001MaxPoolUpsample()
    {
        // Arg-max positions as in the seed: window (0,0) top-left, (0,1) bottom-right, (1,0) top-right, (1,1) bottom-left.
        double[] x =
        [
            9, 0, 0, 0,
            0, 0, 0, 9,
            0, 9, 0, 0,
            0, 0, 9, 0,
        ];
        var pool = new MaxPool2d<double>(2);
        var dx = Upsample(pool, x, [2, 8, 4, 6]);
        Assert.Equal(
            new double[]
            {
                2, 0, 0, 0,
                0, 0, 0, 8,
                0, 4, 0, 0,
                0, 0, 6, 0,
            }, dx);
    }

    /// <summary>Seed 001: the same δ through 2x2 mean pooling is spread evenly: [[.5,.5,2,2],[.5,.5,2,2],[1,1,1.5,1.5],[1,1,1.5,1.5]].</summary>
    [Fact]
    public void Seed001MeanPoolUpsample()
    {
        var dx = Upsample(new MeanPool2d<double>(2), new double[16], [2, 8, 4, 6]);
        Assert.Equal(
            new double[]
            {
                0.5, 0.5, 2, 2,
                0.5, 0.5, 2, 2,
                1, 1, 1.5, 1.5,
                1, 1, 1.5, 1.5,
            }, dx);
    }

    private static double[] Upsample(Layer<double> pool, double[] x, double[] delta)
    {
        pool.Build(new Shape(1, 4, 4));
        pool.Reserve(1);
        var y = new double[4];
        var dx = new double[16];
        pool.Forward(x, y, 1);
        pool.Backward(x, y, delta, dx, 1);
        return dx;
    }

    /// <summary>
    /// Seed 001, section 3: a 3x3 input a, a 2x2 kernel w, stride 1, output z 2x2 (bias 0), and the
    /// nine input gradients it lists, e.g. ∇a12 = δ11 w12 + δ12 w11 and ∇a22 = δ11 w22 + δ12 w21 + δ21 w12 + δ22 w11.
    /// Distinct primes make every term identifiable. (The seed's padded-δ matrix has a typo: δ12 appears
    /// twice where the second should be δ21; the listed gradients are right.)
    /// </summary>
    [Fact]
    public void Seed001ThreeByThreeByTwoByTwoInputGradients()
    {
        double w11 = 2, w12 = 3, w21 = 5, w22 = 7;
        double d11 = 11, d12 = 13, d21 = 17, d22 = 19;
        var (dx, dw, _) = RunConv([1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 3, [w11, w12, w21, w22], 2, 2, [d11, d12, d21, d22]);
        double[] expected =
        [
            d11 * w11, d11 * w12 + d12 * w11, d12 * w12,
            d11 * w21 + d21 * w11, d11 * w22 + d12 * w21 + d21 * w12 + d22 * w11, d12 * w22 + d22 * w12,
            d21 * w21, d21 * w22 + d22 * w21, d22 * w22,
        ];
        Assert.Equal(expected, dx);
        Assert.Equal(4, dw.Length);
    }

    /// <summary>
    /// Seed 001, section 4: a 4x4 input a, a 3x3 kernel, a 2x2 output error δ, and
    /// ∂J/∂W11 = a11 δ11 + a12 δ12 + a21 δ21 + a22 δ22, ∂J/∂W12 = a12 δ11 + a13 δ12 + a22 δ21 + a23 δ22,
    /// ∂J/∂W13 = a13 δ11 + a14 δ12 + a23 δ21 + a24 δ22, ... : the kernel gradient is the 'valid'
    /// correlation of a with δ (no rotation). The bias gradient is Σ δ.
    /// </summary>
    [Fact]
    public void Seed001FourByFourKernelGradientListing()
    {
        double[] a = Enumerable.Range(1, 16).Select(v => (double)v * v).ToArray(); // a_ij = a[(i-1)*4 + (j-1)]
        double[] d = [1, 10, 100, 1000];
        var (_, dw, db) = RunConv(a, 4, 4, new double[9], 3, 3, d);
        double A(int i, int j) => a[(i - 1) * 4 + (j - 1)];
        for (int p = 1; p <= 3; p++)
            for (int q = 1; q <= 3; q++)
            {
                double expected = A(p, q) * d[0] + A(p, q + 1) * d[1] + A(p + 1, q) * d[2] + A(p + 1, q + 1) * d[3];
                Assert.Equal(expected, dw[(p - 1) * 3 + (q - 1)]);
            }
        Assert.Equal(1111, db);
    }

    private static (double[] Dx, double[] Dw, double Db) RunConv(double[] x, int h, int w, double[] kernel, int kh, int kw, double[] delta)
    {
        var conv = new Conv2d<double>(1, kh, kw);
        conv.Build(new Shape(1, h, w));
        conv.Reserve(1);
        kernel.CopyTo(conv.Weight.Value, 0);
        var y = new double[delta.Length];
        var dx = new double[x.Length];
        conv.Forward(x, y, 1);
        conv.Backward(x, y, delta, dx, 1);
        return (dx, conv.Weight.Gradient.ToArray(), conv.Bias.Gradient[0]);
    }

    /// <summary>
    /// Seed 000, section 3, in MATLAB's true-convolution notation with the seed's kernel k
    /// (= rot180 of the correlation kernel w the engine stores):
    ///   ∂L/∂x = conv2(δ, rot180(k), 'same') = conv2(δ, w, 'same')
    ///   rot180(∂L/∂k) = ∂L/∂w = conv2(xp, rot180(δ), 'valid')   (xp = x zero-padded by 2 for 5x5, 'same')
    /// The seed writes 'same' in the second formula; on the padded 18x18 map of its figure the
    /// result only has the kernel's 5x5 size with 'valid' (a sloppy mode name, corrected here).
    /// </summary>
    [Fact]
    public void Seed000SameConvolutionFormulasAgreeWithTheEngine()
    {
        var rng = new Rng(8);
        int h = 14, k = 5, pad = 2;
        var x = RandomTensors.Normal(rng, h * h);
        var w = RandomTensors.Normal(rng, k * k);
        var delta = RandomTensors.Normal(rng, h * h);
        var conv = new Conv2d<double>(1, k, k, 1, Padding.Same);
        conv.Build(new Shape(1, h, h));
        conv.Reserve(1);
        w.CopyTo(conv.Weight.Value, 0);
        var y = new double[h * h];
        var dx = new double[h * h];
        conv.Forward(x, y, 1);
        conv.Backward(x, y, delta, dx, 1);

        double[] seedDx = Conv2(delta, h, w, k, "same");
        for (int i = 0; i < dx.Length; i++) Assert.Equal(seedDx[i], dx[i], 12);

        double[] xp = Pad(x, h, pad);
        double[] seedDw = Conv2(xp, h + 2 * pad, Rot180(delta), h, "valid");
        Assert.Equal(k * k, seedDw.Length);
        for (int i = 0; i < k * k; i++) Assert.Equal(seedDw[i], conv.Weight.Gradient[i], 12);
    }

    private static double[] Rot180(double[] m) => m.Reverse().ToArray();

    private static double[] Pad(double[] a, int size, int pad)
    {
        int ps = size + 2 * pad;
        var o = new double[ps * ps];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                o[(i + pad) * ps + j + pad] = a[i * size + j];
        return o;
    }

    /// <summary>MATLAB's conv2 for square matrices: true convolution ('full'), then the 'same' centre or the 'valid' part.</summary>
    private static double[] Conv2(double[] a, int an, double[] b, int bn, string shape)
    {
        int fn = an + bn - 1;
        var full = new double[fn * fn];
        for (int i = 0; i < an; i++)
            for (int j = 0; j < an; j++)
                for (int p = 0; p < bn; p++)
                    for (int q = 0; q < bn; q++)
                        full[(i + p) * fn + j + q] += a[i * an + j] * b[p * bn + q];
        // 'same': the central an x an part, starting at floor(bn/2); 'valid': only full overlaps.
        int start = shape == "same" ? bn / 2 : bn - 1, size = shape == "same" ? an : an - bn + 1;
        var o = new double[size * size];
        for (int i = 0; i < size; i++)
            for (int j = 0; j < size; j++)
                o[i * size + j] = full[(i + start) * fn + j + start];
        return o;
    }
}
