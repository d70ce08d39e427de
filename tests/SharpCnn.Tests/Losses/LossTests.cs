using SharpCnn.Losses;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Losses;

public class LossTests
{
    [Theory]
    [InlineData("ce")]
    [InlineData("softmax-mse")]
    [InlineData("mse")]
    public void GradientCheckPasses(string name)
    {
        var rng = new Rng(4);
        var x = RandomTensors.Normal(rng, 5 * 10, 3.0);
        int[] labels = [3, 0, 9, 3, 7];
        var report = GradientChecker.CheckLoss(global::SharpCnn.Losses.Losses.Create<double>(name), x, labels, 5, 10);
        GradientAssert.Passes(report);
    }

    [Fact]
    public void CrossEntropyIsStableForHugeScores()
    {
        var ce = new SoftmaxCrossEntropy<double>();
        double[] x = [1000, 0, -1000];
        Assert.Equal(0, ce.Forward(x, [0], 1, 3), 12);
        Assert.Equal(2000, ce.Forward(x, [2], 1, 3), 9);
        var g = new double[3];
        ce.Backward(x, [2], g, 1, 3);
        Assert.All(g, v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void FloatCrossEntropyDoesNotOverflowWhereANaiveExpWould()
    {
        var ce = new SoftmaxCrossEntropy<float>();
        float[] x = [200f, 100f];
        Assert.True(float.IsInfinity(MathF.Exp(200f)));
        Assert.Equal(100f, ce.Forward(x, [1], 1, 2), 3);
    }

    /// <summary>
    /// Seed 000 warns that the softmax Jacobian's i ≠ j terms are easy to forget. Without
    /// them the gradient is wrong, and the checker says so.
    /// </summary>
    [Fact]
    public void SoftmaxSquaredErrorWithoutTheOffDiagonalTermsFailsTheCheck()
    {
        var rng = new Rng(2);
        var x = RandomTensors.Normal(rng, 3 * 10, 2.0);
        var report = GradientChecker.CheckLoss(new DiagonalOnlySoftmaxSquaredError(), x, [1, 2, 3], 3, 10);
        Assert.False(report.Passed);
        Assert.True(report.MaxRelativeError > 0.01, GradientAssert.Describe(report));
    }

    private sealed class DiagonalOnlySoftmaxSquaredError : Loss<double>
    {
        private readonly SoftmaxSquaredError<double> inner = new();

        public override string Name => "softmax-mse-diagonal-only";

        public override double Forward(ReadOnlySpan<double> output, ReadOnlySpan<int> labels, int n, int classes) => inner.Forward(output, labels, n, classes);

        public override void Backward(ReadOnlySpan<double> output, ReadOnlySpan<int> labels, Span<double> dOutput, int n, int classes)
        {
            var p = new double[classes];
            for (int s = 0; s < n; s++)
            {
                Softmax.Compute(output.Slice(s * classes, classes), p);
                for (int i = 0; i < classes; i++)
                {
                    double t = i == labels[s] ? 1 : 0;
                    dOutput[s * classes + i] = (p[i] - t) * p[i] * (1 - p[i]) / n; // only ∂p_i/∂x_i
                }
            }
        }
    }

    [Fact]
    public void LabelsOutsideTheClassesAreRejected()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SoftmaxCrossEntropy<double>().Forward(new double[10], [10], 1, 10));
        Assert.Contains("outside 0..9", e.Message);
    }
}
