using System.Runtime.InteropServices;
using SharpCnn.Data;
using SharpCnn.Layers;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn.Tests;

/// <summary>Many threads calling one <see cref="Classifier{T}"/> at once (a model server): the same answers as one after another.</summary>
public sealed class ClassifierThreadTests
{
    private static (Classifier<float> Model, ImageDataSet Test) Trained(string spec)
    {
        var (train, test) = BundledDigits.Load();
        var model = Classifier.FromSpec(spec, train.Shape, seed: 3);
        // Trained a little, so batch norm's running statistics and the weights are not their initial values.
        model.Fit(train.Take(600), options: new TrainingOptions { Epochs = 1, BatchSize = 20, Optimizer = "adam", LearningRate = 0.002 },
            cancellation: TestContext.Current.CancellationToken);
        return (model, test.Take(1000));
    }

    private static void AssertSame(Prediction expected, Prediction actual, string what)
    {
        Assert.True(MemoryMarshal.AsBytes(expected.Scores.ToArray().AsSpan()).SequenceEqual(MemoryMarshal.AsBytes(actual.Scores.ToArray().AsSpan())), $"{what}: the scores differ");
        Assert.True(expected.Probabilities.SequenceEqual(actual.Probabilities), $"{what}: the probabilities differ");
    }

    [Fact]
    public void EightThreadsTimesAThousandPredictionsEqualOneAfterAnother()
    {
        var (model, test) = Trained("conv5x5x6:same,batchnorm,relu,maxpool2,dropout0.3,conv3x3x8,relu,flatten,dense32,relu,dense10");
        var sequential = new Prediction[test.Count];
        for (int i = 0; i < test.Count; i++) sequential[i] = model.Predict(test.Image(i));

        const int threads = 8;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var start = new Barrier(threads);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                for (int k = 0; k < test.Count; k++)
                {
                    int i = (k * 7 + t * 131) % test.Count; // each thread in its own order, so they overlap on different images
                    // The ways in: pixel bytes, values in the input layout, and the whole set (every 250th call).
                    var p = k % 2 == 0
                        ? model.Predict(test.Image(i))
                        : model.Predict(test.Image(i).ToArray().Select(b => b / 255f).ToArray().AsSpan());
                    AssertSame(sequential[i], p, $"thread {t}, image {i}");
                    if (k % 250 == 0) Assert.Equal(sequential.Select(s => s.Class), model.Predict(test, batchSize: 64).Select(s => s.Class));
                }
            }
            catch (Exception e)
            {
                failures.Enqueue($"thread {t}: {e.GetType().Name}: {e.Message}");
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        Assert.Empty(failures);
        // Still the same one after another, and the network itself left in its mode.
        for (int i = 0; i < 50; i++) AssertSame(sequential[i], model.Predict(test.Image(i)), $"image {i} afterwards");
        Assert.True(model.Network.Training);
    }

    [Fact]
    public void ANetworkWithALayerWrittenInCodeTakesTurnsSafely()
    {
        var model = new Classifier<float>(new Shape(1, 28, 28), [new Doubling(), new Dense<float>(10)], seed: 5);
        var (_, test) = BundledDigits.Load();
        var sequential = Enumerable.Range(0, 200).Select(i => model.Predict(test.Image(i))).ToArray();
        var parallel = new Prediction[8 * 200];
        Parallel.For(0, parallel.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, k => parallel[k] = model.Predict(test.Image(k % 200)));
        for (int k = 0; k < parallel.Length; k++) AssertSame(sequential[k % 200], parallel[k], $"call {k}");
    }

    /// <summary>y = 2x, written in code: it has no description to recreate it from.</summary>
    private sealed class Doubling : Layer<float>
    {
        public override LayerSpec Spec => new CodeLayerSpec("doubling");

        protected override Shape Configure(Shape input) => input;

        public override void Forward(ReadOnlySpan<float> x, Span<float> y, int n)
        {
            CheckForward(x, y, n);
            for (int i = 0; i < n * InputShape.Size; i++) y[i] = 2 * x[i];
        }

        public override void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int n)
        {
            if (dx.IsEmpty) return;
            for (int i = 0; i < n * InputShape.Size; i++) dx[i] = 2 * dy[i];
        }
    }
}
