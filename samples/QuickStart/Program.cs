using SharpCnn;
using SharpCnn.Data;

// 8,000 training and 2,000 test digits (28x28 MNIST), bundled with the library.
var (train, test) = BundledDigits.Load();

// A small CNN from a spec string; Classifier.FromPreset("lenet5", train.Shape) and
// new Classifier<float>(shape, layers) build presets and hand-made layer lists.
var model = Classifier.FromSpec("conv5x5x8:same,relu,maxpool2,flatten,dense10", train.Shape);

// One epoch of Adam in batches of 32, reporting every 50 steps (the defaults: 3 epochs, learning rate 0.001).
var options = Classifier.DefaultTrainingOptions with { Epochs = 1, LearningRate = 0.003, ProgressEvery = 50 };
model.Fit(train, test, options,
    onProgress: p => Console.WriteLine($"  {p.Samples}/{p.EpochSamples} samples, loss {p.Loss:F3}, {p.SamplesPerSecond:F0} samples/s"),
    onEpoch: e => Console.WriteLine($"epoch {e.Epoch}: test accuracy {e.Test!.Accuracy:P2}"));

// Evaluate on the test set, classify one image, save and load again.
var evaluation = model.Evaluate(test);
Console.WriteLine($"accuracy {evaluation.Accuracy:P2} on {evaluation.Count} test images");

Prediction prediction = model.Predict(test.Image(0));
Console.WriteLine($"test image 0 is a {test.Label(0)}; the model says {prediction.Class} ({prediction.Probability:P1})");
foreach (var (digit, probability) in prediction.Top(3)) Console.WriteLine($"  {digit}: {probability:P2}");

model.Save("digits.scnn");
var loaded = Classifier.Load("digits.scnn");
Console.WriteLine($"reloaded model says {loaded.Predict(test.Image(0)).Class}");
