using System.CommandLine;
using SharpCnn.Io;
using SharpCnn.Model;
using SharpCnn.Training;

namespace SharpCnn.Cli;

/// <summary><c>sharpcnn train</c>: trains a model (by default the seed CNN on the bundled digits) and reports test accuracy.</summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string?>("--data") { Description = "Folder with MNIST-format IDX files (train-/t10k-images/labels, gzip or raw); default: the bundled 10,000 MNIST digits" };
        var model = new Option<string>("--model") { Description = "A preset (seed-cnn, seed-fc1, seed-fc2, lenet5), a spec string, or a saved .scnn model to continue training", DefaultValueFactory = _ => "seed-cnn" };
        var loss = new Option<string?>("--loss") { Description = "ce, softmax-mse or mse (default: the preset's)" };
        var init = new Option<string?>("--init") { Description = "uniform, normal, xavier, he or lecun (default: the preset's; he for a spec)" };
        var epochs = new Option<int>("--epochs") { Description = "Passes over the training set", DefaultValueFactory = _ => 3 };
        var batch = new Option<int>("--batch") { Description = "Samples per step (1 = the seeds' single-sample training)", DefaultValueFactory = _ => 32 };
        var lr = new Option<double>("--lr") { Description = "Learning rate", DefaultValueFactory = _ => 0.001 };
        var optimizer = new Option<string>("--optimizer") { Description = "sgd, momentum or adam", DefaultValueFactory = _ => "adam" };
        var momentum = new Option<double>("--momentum") { Description = "Momentum coefficient for --optimizer momentum", DefaultValueFactory = _ => 0.9 };
        var precision = new Option<string>("--precision") { Description = "float or double", DefaultValueFactory = _ => "float" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of initialisation and shuffling", DefaultValueFactory = _ => 1 };
        var output = new Option<string?>("--output", "-o") { Description = "Save the trained model to this file (.scnn)" };
        var stop = new Option<double>("--stop-epsilon") { Description = "Stop when no parameter moved by this much over an epoch (seed 001's threshold; 0 = off)" };
        var maxSteps = new Option<long>("--max-steps") { Description = "Stop after this many steps (0 = no cap)" };
        var limit = new Option<int>("--limit") { Description = "Use only the first N training samples (0 = all)" };
        var testLimit = new Option<int>("--test-limit") { Description = "Use only the first N test samples (0 = all)" };
        var confusion = new Option<bool>("--confusion") { Description = "Print the confusion matrix at the end" };
        var threads = ThreadsOption.Create();

        var command = new Command("train", "Train a model and report test accuracy after each epoch")
        {
            data, model, loss, init, epochs, batch, lr, optimizer, momentum, precision, seed, output, stop, maxSteps, limit, testLimit, confusion, threads,
        };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            ThreadsOption.Apply(r.GetValue(threads));
            var choice = ModelChoice.Resolve(r.GetValue(model)!, r.GetValue(loss), r.GetValue(init));
            var options = new TrainingOptions
            {
                Epochs = r.GetValue(epochs),
                BatchSize = r.GetValue(batch),
                LearningRate = r.GetValue(lr),
                Optimizer = r.GetValue(optimizer)!,
                Momentum = r.GetValue(momentum),
                Seed = r.GetValue(seed),
                StopEpsilon = r.GetValue(stop),
                MaxSteps = r.GetValue(maxSteps),
            };
            var (train, test, label) = DataChoice.Load(r.GetValue(data), r.GetValue(limit), r.GetValue(testLimit));
            return Precision.Dispatch(r.GetValue(precision)!, new Run(choice, options, train, test, label, r.GetValue(output), r.GetValue(confusion)));
        }));
        return command;
    }

    private sealed record Run(ModelChoice Choice, TrainingOptions Options, Data.ImageDataSet Train, Data.ImageDataSet Test, string DataLabel, string? Output, bool Confusion)
        : IPrecisionAction
    {
        public int Invoke<T>() where T : unmanaged, IFloatingPointIeee754<T>
        {
            var network = Choice.Create<T>(Train.Shape, Options.Seed);
            Console.WriteLine($"model    {Choice.Label}: {network.Spec}");
            Console.WriteLine($"         {network.ParameterCount:N0} parameters, {network.ForwardFlops / 1e6:F1} MFLOP forward per sample; loss {network.Loss.Name}, init {(Choice.File is null ? Initializer.Name(Choice.Init) : "from file")}, {typeof(T).Name.ToLowerInvariant()}");
            Console.WriteLine($"data     {DataLabel}: {Train.Count:N0} training, {Test.Count:N0} test images of {Train.Shape}");
            Console.WriteLine($"training {Options.Epochs} epoch(s), batch {Options.BatchSize}, {Options.Optimizer} lr {Options.LearningRate:G4}, seed {Options.Seed}");
            var trainer = new Trainer<T>(network, Options);
            int lastDecile = 0;
            trainer.Progress += p =>
            {
                int decile = 10 * p.Samples / p.EpochSamples;
                if (decile == lastDecile || decile >= 10) return;
                lastDecile = decile;
                Console.WriteLine($"  epoch {p.Epoch} {100.0 * p.Samples / p.EpochSamples,3:F0}%  loss {p.Loss:F4}  train acc {p.Accuracy:P2}  {p.SamplesPerSecond:F0} samples/s");
            };
            trainer.EpochCompleted += e =>
            {
                lastDecile = 0;
                string test = e.Test is null ? "" : $"  test acc {e.Test.Accuracy:P2}  test loss {e.Test.Loss:F4}";
                string change = double.IsNaN(e.MaxParameterChange) ? "" : $"  max |Δθ| {e.MaxParameterChange:G3}";
                Console.WriteLine($"epoch {e.Epoch}  loss {e.TrainLoss:F4}  train acc {e.TrainAccuracy:P2}{test}  {e.Seconds:F1}s ({e.SamplesPerSecond:F0} samples/s){change}");
            };
            var result = trainer.Fit(Train, Test);
            Console.WriteLine($"stopped: {result.StopReason}");
            if (result.Diverged)
            {
                Console.Error.WriteLine("error: training diverged; try a lower --lr, --init normal or he, or a '-max' (minusmax) layer before the loss");
                return 1;
            }
            var final = result.Epochs[^1].Test ?? Evaluator.Evaluate(network, Test);
            Console.WriteLine($"test accuracy {final.Accuracy:P2} ({(int)Math.Round(final.Accuracy * final.Count)}/{final.Count}), test loss {final.Loss:F4}");
            if (Confusion) Console.WriteLine(final.FormatConfusion());
            if (Output is not null)
            {
                ModelFile.Save(network, Output, new Dictionary<string, string>
                {
                    ["trained"] = DateTime.UtcNow.ToString("O"),
                    ["data"] = DataLabel,
                    ["test_accuracy"] = final.Accuracy.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                    ["command"] = "sharpcnn " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                });
                Console.WriteLine($"saved    {Output}");
            }
            return 0;
        }
    }
}
