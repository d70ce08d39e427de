using SharpCnn.Data;
using SharpCnn.Tensors;

namespace SharpCnn.Images;

/// <summary>
/// An image file's bytes made into a model's input, the one way <c>sharpcnn predict</c> and <c>sharpcnn serve</c> do it:
/// decoded (<see cref="ImageDecoder"/>: the declared size checked first; transparency over white) straight to the
/// model's channels (colour to grey by luma, grey repeated), resized to its input (area averaging when shrinking,
/// bilinear when enlarging) and optionally inverted. The pixel bytes are then scaled to pixel / 255
/// (<see cref="Classifier{T}.ScalePixels"/>), and the model's own normalisation layer, if it has one, follows.
/// </summary>
public static class ModelImage
{
    /// <summary>The image in <paramref name="data"/> (<paramref name="name"/> names it in errors) as pixel bytes of shape <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">The model does not take 1- or 3-channel inputs.</exception>
    /// <exception cref="FileFormatException">The bytes are not an image the decoder accepts; the message says why.</exception>
    public static PixelImage Decode(ReadOnlySpan<byte> data, string name, Shape input, bool invert = false)
    {
        if (input.Channels is not (1 or 3))
            throw new ArgumentException($"the model takes {input} inputs; images have 1 (grey) or 3 (colour) channels");
        var image = ImageDecoder.Decode(data, name, input.Channels).Resize(input.Width, input.Height);
        return invert ? image.Invert() : image;
    }
}
