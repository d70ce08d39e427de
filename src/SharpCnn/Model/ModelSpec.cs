using System.Text.RegularExpressions;
using SharpCnn.Layers;
using SharpCnn.Tensors;

namespace SharpCnn.Model;

/// <summary>
/// A network's architecture: an optional input shape and the layers' descriptions
/// (<see cref="LayerSpec"/>), in order. It has a compact text form, usable from the CLI and the
/// library: comma-separated layer tokens, each optionally followed by ':'-separated options.
/// <code>
/// conv5x5x32:same,relu,maxpool2,conv5x5x64:same,relu,maxpool2,dense1024,relu,dense10
/// </code>
/// An optional first token <c>input{C}x{H}x{W}</c> (or <c>input{H}x{W}</c>) fixes the input shape;
/// otherwise the data decides. Every other token is read by the layer kind that recognises it
/// (<see cref="LayerKinds"/>; <see cref="LayerKinds.All"/> lists each kind's grammar and summary):
/// <c>conv{kh}x{kw}x{out}</c>, <c>dense{n}</c>, <c>maxpool{k}</c>, <c>meanpool{k}</c>, <c>subsample{k}</c>,
/// <c>flatten</c>, <c>relu</c>, <c>sigmoid</c>, <c>tanh</c>, <c>identity</c>, <c>minusmax</c>, <c>divnorm</c>,
/// <c>crop{h}x{w}</c>, <c>batchnorm</c>, <c>dropout{p}</c>, ... Tokens are case-insensitive; numbers are
/// plain decimals (<c>0.001</c>) or in exponent form (<c>1e-3</c>). Errors name the layer position and the
/// reason (<see cref="ModelSpecException"/>).
///
/// Built from descriptions in code, <c>new ModelSpec([new ConvSpec(5, 5, 8, Padding: Padding.Same), ReluSpec.Instance, new DenseSpec(10)])</c>
/// is the same as parsing its <see cref="Text"/>.
/// </summary>
public sealed partial class ModelSpec
{
    /// <summary>A spec of <paramref name="layers"/> (at least one), for inputs of <paramref name="input"/> or, when null, of the data's shape.</summary>
    /// <exception cref="ModelSpecException">There are no layers.</exception>
    public ModelSpec(IEnumerable<LayerSpec> layers, Shape? input = null)
    {
        ArgumentNullException.ThrowIfNull(layers);
        Layers = [.. layers];
        if (Layers.Count == 0) throw new ModelSpecException(0, "", "the model spec has no layers");
        if (Layers.Any(l => l is null)) throw new ArgumentException("a layer description is null", nameof(layers));
        Input = input;
    }

    /// <summary>The input shape given by an <c>input…</c> token, or null.</summary>
    public Shape? Input { get; }

    /// <summary>The layers' descriptions, in order.</summary>
    public IReadOnlyList<LayerSpec> Layers { get; }

    /// <summary>The canonical text of this spec (parses back to an equal spec).</summary>
    public string Text => (Input is { } s ? $"input{s.Channels}x{s.Height}x{s.Width}," : "") + string.Join(",", Layers.Select(l => l.Token));

    /// <inheritdoc />
    public override string ToString() => Text;

    /// <summary>Parses a spec; throws <see cref="ModelSpecException"/> naming the position and reason.</summary>
    public static ModelSpec Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ModelSpecException(0, "", "the model spec is empty");
        string[] tokens = text.Split(',');
        Shape? input = null;
        var layers = new List<LayerSpec>();
        for (int i = 0; i < tokens.Length; i++)
        {
            var token = new LayerToken(tokens[i].Trim().ToLowerInvariant(), i + 1);
            if (token.Text.Length == 0) throw token.Error("empty token (two commas in a row, or a trailing comma?)");
            var m = InputToken().Match(token.Text);
            if (m.Success)
            {
                if (i != 0) throw token.Error("an input shape can only be the first token");
                input = m.Groups[3].Success
                    ? new Shape(token.Size(m.Groups[1].Value), token.Size(m.Groups[2].Value), token.Size(m.Groups[3].Value))
                    : new Shape(1, token.Size(m.Groups[1].Value), token.Size(m.Groups[2].Value));
                continue;
            }
            layers.Add(LayerKinds.Parse(token));
        }
        if (layers.Count == 0) throw new ModelSpecException(0, "", "the model spec has no layers");
        return new ModelSpec(layers, input);
    }

    /// <summary>
    /// Builds the network in precision <typeparamref name="T"/> for inputs of <paramref name="input"/>
    /// (or the spec's own input token when <paramref name="input"/> is null), with the named loss.
    /// Parameters are zero: initialise them with <see cref="Initializer"/>, or build and initialise
    /// in one call with <see cref="ModelFactory.FromSpec{T}(ModelSpec, Shape?, string, InitScheme, ulong)"/>.
    /// </summary>
    public Network<T> Build<T>(Shape? input, string loss = "ce") where T : unmanaged, IFloatingPointIeee754<T>
    {
        Shape shape = (Input, input) switch
        {
            ({ } own, { } given) when own != given => throw new ModelSpecException(1, $"input{own.Channels}x{own.Height}x{own.Width}", $"the spec's input {own} does not match the data's {given}"),
            ({ } own, _) => own,
            (null, { } given) => given,
            _ => throw new ModelSpecException(0, "", "no input shape: give one with an input token (e.g. input1x28x28) or build for a data set"),
        };
        if (Losses.Losses.Canonical(loss) is null) throw new ModelSpecException(0, "", $"unknown loss '{loss}'; expected one of: {string.Join(", ", Losses.Losses.Names)}");
        var built = new List<Layer<T>>(Layers.Count);
        for (int k = 0; k < Layers.Count; k++)
        {
            try
            {
                built.Add(Layers[k].Create<T>());
            }
            catch (ArgumentException e)
            {
                throw new ModelSpecException(k + 1, Layers[k].Token, e.Message);
            }
        }
        return new Network<T>(shape, built, Losses.Losses.Create<T>(loss));
    }

    [GeneratedRegex(@"^input(\d+)x(\d+)(?:x(\d+))?$")]
    private static partial Regex InputToken();
}
