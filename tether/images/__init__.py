"""Image automation: registry scans, image policies, setter markers, commits and pull requests.

Flux's ``image.toolkit.fluxcd.io`` resources (ImageRepository, ImagePolicy,
ImageUpdateAutomation) and Argo CD Image Updater's annotations map onto these parts; see
docs/images.md.
"""
