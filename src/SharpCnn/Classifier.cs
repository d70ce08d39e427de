using System.Collections.Concurrent;
using SharpCnn.Data;
using SharpCnn.Formats;
using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Model;
using SharpCnn.Tensors;
using SharpCnn.Training;

namespace SharpCnn;

/// <summary>
/// Entry points that make a <see cref="Classifier{T}"/>: from a spec string, a preset or a saved
/// file. The overloads without a type argument work in <c>float</c>, the usual choice; pass
/// <c>double</c> for gradient checks or precision studies.
/// <code>
/// var (train, test) = BundledDigits.Load();
/// var model = Classifier.FromSpec("conv5x5x8:same,relu,maxpool2,flatten,dense10", train.Shape);
/// model.Fit(train, test);
/// Prediction p = model.Predict(test.Image(0));
/// model.Save("digits.scnn");
/// </code>
/// </summary>
public static class Classifier
{
    /// <summary>
    /// The settings <see cref="Classifier{T}.Fit"/> uses when given none: Adam with learning rate 0.001, batches of 32,
    /// 3 epochs, shuffled with seed 1 (the CLI's defaults, which train the seed CNN to about 97 % on the
    /// bundled digits).
    /// </summary>
    public static TrainingOptions DefaultTrainingOptions { get; } = new()
    {
        Epochs = 3,
        BatchSize = 32,
        Optimizer = "adam",
        LearningRate = 0.001,
    };

    /// <summary>Builds and initialises a float classifier from a spec string (see <see cref="ModelSpec"/>).</summary>
    /// <param name="spec">Layer tokens, e.g. <c>conv5x5x8:same,relu,maxpool2,flatten,dense10</c>.</param>
    /// <param name="input">Per-sample input shape; may be null when the spec starts with an <c>input…</c> token.</param>
    /// <param name="loss"><c>ce</c> (softmax cross-entropy), <c>softmax-mse</c> or <c>mse</c>.</param>
    /// <param name="init">How the initial weights are drawn.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ModelSpecException">The spec is not valid or does not fit the input; the message names the position and reason.</exception>
    public static Classifier<float> FromSpec(string spec, Shape? input = null, string loss = ModelFactory.DefaultLoss, InitScheme init = ModelFactory.DefaultInit, ulong seed = 1) =>
        FromSpec<float>(spec, input, loss, init, seed);

    /// <summary>Builds and initialises a classifier in precision <typeparamref name="T"/> from a spec string (see <see cref="ModelSpec"/>).</summary>
    /// <inheritdoc cref="FromSpec(string, Shape?, string, InitScheme, ulong)"/>
    public static Classifier<T> FromSpec<T>(string spec, Shape? input = null, string loss = ModelFactory.DefaultLoss, InitScheme init = ModelFactory.DefaultInit, ulong seed = 1)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        new(ModelFactory.FromSpec<T>(spec, input, loss, init, seed));

    /// <summary>Builds and initialises a float classifier from a preset (<see cref="Presets"/>: seed-cnn, seed-fc1, seed-fc2, lenet5) with its own loss and initialiser.</summary>
    /// <param name="name">The preset's name.</param>
    /// <param name="input">Per-sample input shape, e.g. <c>train.Shape</c> (1x28x28 for digits).</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ArgumentException">There is no preset of that name.</exception>
    public static Classifier<float> FromPreset(string name, Shape input, ulong seed = 1) => FromPreset<float>(name, input, seed);

    /// <summary>Builds and initialises a classifier in precision <typeparamref name="T"/> from a preset, with its own loss and initialiser.</summary>
    /// <inheritdoc cref="FromPreset(string, Shape, ulong)"/>
    public static Classifier<T> FromPreset<T>(string name, Shape input, ulong seed = 1) where T : unmanaged, IFloatingPointIeee754<T> =>
        new(ModelFactory.FromPreset<T>(name, input, seed));

    /// <summary>Loads a float classifier saved by <see cref="Classifier{T}.Save"/> (or <c>sharpcnn train --output</c>).</summary>
    /// <exception cref="FileFormatException">The file is damaged or not a model file; the message names the file, offset and problem.</exception>
    /// <exception cref="FileNotFoundException">There is no such file.</exception>
    public static Classifier<float> Load(string path) => Load<float>(path);

    /// <summary>Loads a classifier in precision <typeparamref name="T"/> (weights saved in the other precision are converted).</summary>
    /// <inheritdoc cref="Load(string)"/>
    public static Classifier<T> Load<T>(string path) where T : unmanaged, IFloatingPointIeee754<T> => new(ModelFile.Load<T>(path));
}

/// <summary>
/// A network that classifies images: <see cref="Fit"/>, <see cref="Evaluate"/>, <see cref="Predict(ReadOnlySpan{byte})"/>,
/// <see cref="Save"/>. A thin layer over <see cref="Network{T}"/>, <see cref="Trainer{T}"/>,
/// <see cref="Evaluator"/> and <see cref="ModelFile"/>, which stay available for finer control
/// (<see cref="Network"/> is the very network trained and saved).
///
/// Inputs follow the training data's convention: pixel bytes are scaled to pixel / 255, as
/// <see cref="ImageDataSet"/> does.
/// </summary>
/// <remarks>
/// <para><b>Threads.</b> Every <c>Predict</c> overload, <see cref="Evaluate"/>, <see cref="Save"/>, <see cref="Summary"/>,
/// <see cref="ToString"/> and the properties may be called from any number of threads at once (a model server's
/// requests): each call runs on an inference copy of the network of its own, which shares the weights (nothing is
/// copied, so it always sees the current ones) and has its own buffers; copies are kept in a pool and reused, so
/// after warm-up a prediction allocates only its result. With 8 threads at once the answers are the same, bit for
/// bit, as one after another (<c>ClassifierThreadTests</c>).</para>
/// <para><see cref="Fit"/> changes the weights and must not run while any other member is called; nor may
/// <see cref="Network"/> be changed meanwhile. A network with a layer written in code (that cannot be recreated
/// from its description) has no copies: its calls take turns on the network itself, still safe, one at a time.</para>
/// </remarks>
public sealed class Classifier<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly ConcurrentBag<Network<T>> idle = [];
    private readonly Lock shared = new(); // for a network that cannot be copied
    private int copyable; // 0 unknown, 1 yes, -1 no

    /// <summary>Wraps an existing network (its parameters are used as they are).</summary>
    public Classifier(Network<T> network)
    {
        ArgumentNullException.ThrowIfNull(network);
        Network = network;
    }

    /// <summary>
    /// Builds a classifier from layers made in code and initialises their weights, e.g.
    /// <c>new Classifier&lt;float&gt;(new Shape(1, 28, 28), [new Conv2d&lt;float&gt;(8, 5, 5, padding: Padding.Same), new Relu&lt;float&gt;(), new MaxPool2d&lt;float&gt;(2), new Dense&lt;float&gt;(10)])</c>.
    /// </summary>
    /// <param name="input">Per-sample input shape.</param>
    /// <param name="layers">The layers, input first (not yet built).</param>
    /// <param name="loss"><c>ce</c> (softmax cross-entropy), <c>softmax-mse</c> or <c>mse</c>.</param>
    /// <param name="init">How the initial weights are drawn.</param>
    /// <param name="seed">Seed of the initial weights.</param>
    /// <exception cref="ModelSpecException">A layer does not fit its input; the message names the layer's position.</exception>
    public Classifier(Shape input, IEnumerable<Layer<T>> layers, string loss = ModelFactory.DefaultLoss, InitScheme init = ModelFactory.DefaultInit, ulong seed = 1) =>
        Network = ModelFactory.FromLayers(input, layers, loss, init, seed);

    /// <summary>The network: layers, parameters and buffers.</summary>
    public Network<T> Network { get; }

    /// <summary>Per-sample input shape.</summary>
    public Shape InputShape => Network.InputShape;

    /// <summary>Number of classes (outputs).</summary>
    public int Classes => Network.Classes;

    /// <summary>The spec string that rebuilds this network's layers.</summary>
    public string Spec => Network.Spec;

    /// <summary>The classes' names by output index, or null (see <see cref="Network{T}.ClassNames"/>); <see cref="Fit"/> takes the training data's.</summary>
    public IReadOnlyList<string>? ClassNames => Network.ClassNames;

    /// <summary>
    /// Trains on <paramref name="train"/>, evaluating on <paramref name="test"/> (if given) after every epoch.
    /// Each call starts a fresh optimiser (its moments are not carried over from an earlier call).
    /// </summary>
    /// <param name="train">Training images.</param>
    /// <param name="test">Images to evaluate on after each epoch, or null.</param>
    /// <param name="options">How to train; null for <see cref="Classifier.DefaultTrainingOptions"/>.</param>
    /// <param name="onProgress">Called on the training thread about 100 times an epoch (see <see cref="TrainingOptions.ProgressEvery"/>).</param>
    /// <param name="onEpoch">Called on the training thread after every epoch, with its losses, accuracies and speed.</param>
    /// <param name="cancellation">Stops training between two steps (throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>Every epoch's result and why training stopped (check <see cref="TrainingResult.Diverged"/>).</returns>
    public TrainingResult Fit(ImageDataSet train, ImageDataSet? test = null, TrainingOptions? options = null,
        Action<TrainingProgress>? onProgress = null, Action<EpochResult>? onEpoch = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.ClassNames is { } names && names.Count == Network.Classes) Network.ClassNames = names;
        var trainer = new Trainer<T>(Network, options ?? Classifier.DefaultTrainingOptions);
        if (onProgress is not null) trainer.Progress += onProgress;
        if (onEpoch is not null) trainer.EpochCompleted += onEpoch;
        return trainer.Fit(train, test, cancellation);
    }

    /// <summary>Accuracy, mean loss and confusion matrix on <paramref name="data"/>.</summary>
    public Evaluation Evaluate(ImageDataSet data, int batchSize = 256) => OnCopy(network => Evaluator.Evaluate(network, data, batchSize));

    /// <summary>Classifies one sample given as values in the network's input layout (C x H x W, row-major).</summary>
    /// <exception cref="ArgumentException"><paramref name="input"/> does not have <see cref="InputShape"/>.Size values.</exception>
    public Prediction Predict(ReadOnlySpan<T> input)
    {
        if (input.Length != InputShape.Size)
            throw new ArgumentException($"the model takes {InputShape} = {InputShape.Size} values per sample, got {input.Length}", nameof(input));
        return Run(input);
    }

    /// <summary>
    /// Classifies one image given as pixel bytes (0-255) in the input layout, as in <see cref="ImageDataSet.Image"/>;
    /// they are scaled to pixel / 255 like the training data.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="pixels"/> does not have <see cref="InputShape"/>.Size bytes.</exception>
    public Prediction Predict(ReadOnlySpan<byte> pixels)
    {
        if (pixels.Length != InputShape.Size)
            throw new ArgumentException($"the model takes {InputShape} = {InputShape.Size} pixels per image, got {pixels.Length}", nameof(pixels));
        var sample = new T[pixels.Length]; // per call: calls may come from several threads at once
        ScalePixels(pixels, sample);
        return Run(sample);
    }

    /// <summary>
    /// Scales pixel bytes (0-255) to the values a network takes, pixel / 255, as the training data are
    /// (<see cref="Predict(ReadOnlySpan{byte})"/> does this; a server batching many images does it into its own batch buffer).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="values"/> is shorter than <paramref name="pixels"/>.</exception>
    public static void ScalePixels(ReadOnlySpan<byte> pixels, Span<T> values)
    {
        if (values.Length < pixels.Length)
            throw new ArgumentException($"expected room for {pixels.Length} values, got {values.Length}", nameof(values));
        T scale = T.CreateChecked(255);
        for (int i = 0; i < pixels.Length; i++) values[i] = T.CreateChecked(pixels[i]) / scale;
    }

    /// <summary>
    /// The prediction for one sample's raw network outputs (e.g. one sample of a batch run by <see cref="Inference{T}"/>):
    /// probabilities as <see cref="Predict(ReadOnlySpan{T})"/> gives them.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="output"/> does not have <see cref="Classes"/> values.</exception>
    public Prediction Interpret(ReadOnlySpan<T> output)
    {
        if (output.Length != Classes)
            throw new ArgumentException($"the model gives {Classes} outputs per sample, got {output.Length}", nameof(output));
        return ToPrediction(output);
    }

    /// <summary>
    /// Classifies a grey image of any size: it is resized to the model's input (area averaging when
    /// shrinking, bilinear when enlarging; see <see cref="GreyImage"/>). The model must take one channel.
    /// Invert the image first (<see cref="GreyImage.Invert"/>) when it shows a dark digit on light paper.
    /// </summary>
    /// <exception cref="ArgumentException">The model does not take single-channel images.</exception>
    public Prediction Predict(GreyImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (InputShape.Channels != 1)
            throw new ArgumentException($"the model takes {InputShape.Channels}-channel inputs ({InputShape}); a grey image has one channel", nameof(image));
        return Predict(image.Resize(InputShape.Width, InputShape.Height).Pixels);
    }

    /// <summary>
    /// Classifies a grey or colour picture of any size (from SharpCnn.Images' decoder, <see cref="PixelImage.LoadPng"/>
    /// or a data set): it is converted to the model's channels (colour to grey by luma, grey repeated) and resized to
    /// its input (area averaging when shrinking, bilinear when enlarging), then scaled to pixel / 255.
    /// </summary>
    /// <exception cref="ArgumentException">The model does not take 1- or 3-channel images.</exception>
    public Prediction Predict(PixelImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (InputShape.Channels is not (1 or 3))
            throw new ArgumentException($"the model takes {InputShape.Channels}-channel inputs ({InputShape}); a picture has 1 or 3 channels", nameof(image));
        return Predict(image.ToChannels(InputShape.Channels).Resize(InputShape.Width, InputShape.Height).Pixels);
    }

    /// <summary>Classifies every image of <paramref name="data"/>, in batches; element i is image i's prediction.</summary>
    public IReadOnlyList<Prediction> Predict(ImageDataSet data, int batchSize = 256)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (data.Shape.Size != InputShape.Size)
            throw new ArgumentException($"the data's samples are {data.Shape}, the model takes {InputShape}", nameof(data));
        return OnCopy(network =>
        {
            var predictions = new Prediction[data.Count];
            using var inference = new Inference<T>(network, Math.Min(batchSize, Math.Max(1, data.Count)));
            foreach (var batch in inference.Batches(data))
                for (int i = 0; i < batch.Count; i++) predictions[batch.First + i] = ToPrediction(batch.Output(i));
            return predictions;
        });
    }

    /// <summary>Saves the model (architecture and weights) to <paramref name="path"/>, atomically (see <see cref="ModelFile"/>).</summary>
    /// <param name="path">The file to write (conventionally <c>.scnn</c>).</param>
    /// <param name="metadata">Free-form notes stored in the file's header.</param>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) => ModelFile.Save(Network, path, metadata);

    /// <summary>Every layer's output shape, parameter count and FLOPs, as a text table.</summary>
    public string Summary() => ModelSummary.Format(Network);

    /// <inheritdoc />
    public override string ToString() => $"{Spec} ({InputShape} -> {Classes} classes, {Network.ParameterCount:N0} parameters, loss {Network.Loss.Name})";

    private Prediction Run(ReadOnlySpan<T> input)
    {
        var network = Rent(out bool copy);
        try
        {
            using var inference = new Inference<T>(network, 1);
            return ToPrediction(inference.Run(input));
        }
        finally
        {
            Return(network, copy);
        }
    }

    /// <summary>Runs <paramref name="body"/> on an inference copy of the network of this call's own.</summary>
    private TResult OnCopy<TResult>(Func<Network<T>, TResult> body)
    {
        var network = Rent(out bool copy);
        try
        {
            return body(network);
        }
        finally
        {
            Return(network, copy);
        }
    }

    /// <summary>An idle copy, a new one, or (for a network that cannot be copied) the network itself, held under a lock.</summary>
    private Network<T> Rent(out bool copy)
    {
        if (Volatile.Read(ref copyable) >= 0)
        {
            if (idle.TryTake(out var network))
            {
                copy = true;
                return network;
            }
            try
            {
                network = Network.CloneSharingParameters();
                Volatile.Write(ref copyable, 1);
                copy = true;
                return network;
            }
            catch (NotSupportedException)
            {
                Volatile.Write(ref copyable, -1);
            }
        }
        shared.Enter();
        copy = false;
        return Network;
    }

    private void Return(Network<T> network, bool copy)
    {
        if (copy) idle.Add(network);
        else shared.Exit();
    }

    private Prediction ToPrediction(ReadOnlySpan<T> output)
    {
        var scores = new double[output.Length];
        for (int i = 0; i < scores.Length; i++) scores[i] = double.CreateChecked(output[i]);
        var probabilities = new double[scores.Length];
        if (Network.Loss is SquaredError<T>)
        {
            double sum = 0;
            for (int i = 0; i < scores.Length; i++) sum += probabilities[i] = Math.Max(0, scores[i]);
            for (int i = 0; i < scores.Length; i++) probabilities[i] = sum > 0 ? probabilities[i] / sum : 1.0 / scores.Length;
        }
        else
        {
            Softmax.Compute<double>(scores, probabilities);
        }
        return new Prediction(scores, probabilities);
    }
}
